ALTER TABLE executions DROP COLUMN claim_hash;

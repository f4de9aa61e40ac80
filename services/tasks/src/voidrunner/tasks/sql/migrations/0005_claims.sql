-- Claim-bound attempts (voidrunner.contracts.claims): the hash of the claim of the execution's
-- current attempt. Only a result carrying that claim is recorded.
ALTER TABLE executions ADD COLUMN claim_hash bytea;

ALTER TABLE executions DROP COLUMN termination_detail;

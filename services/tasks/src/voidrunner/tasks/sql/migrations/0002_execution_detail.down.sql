DROP INDEX executions_active_created_idx;
ALTER TABLE executions DROP COLUMN termination_detail;

DROP INDEX executions_created_idx;

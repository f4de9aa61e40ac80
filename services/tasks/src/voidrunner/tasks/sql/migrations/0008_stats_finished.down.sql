DROP INDEX executions_completed_idx;

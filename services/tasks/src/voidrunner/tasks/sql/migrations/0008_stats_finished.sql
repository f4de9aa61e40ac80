-- The operator's per-minute "finished" figure reads executions by when they ended.
CREATE INDEX executions_completed_idx ON executions (completed_at) WHERE completed_at IS NOT NULL;

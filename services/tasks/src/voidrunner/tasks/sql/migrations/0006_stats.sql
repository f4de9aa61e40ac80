-- The operator's figures (GetStats) read the executions of the last minutes to a day.
CREATE INDEX executions_created_idx ON executions (created_at);

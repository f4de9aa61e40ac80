-- Why an execution ended the way it did, in words (e.g. a sandbox_error's cause).
ALTER TABLE executions ADD COLUMN termination_detail text;

-- The reaper scans active executions by age; few rows are active at any time.
CREATE INDEX executions_active_created_idx ON executions (created_at)
    WHERE status IN ('pending', 'running');

-- Why an execution ended the way it did, in words (e.g. a sandbox_error's cause).
ALTER TABLE executions ADD COLUMN termination_detail text;

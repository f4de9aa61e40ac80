-- Judge-class execution: tasks and one-shot runs with several files, arguments, binary stdin,
-- runtime versions and test cases; executions that record what ran and how each case went.

-- A task's many-file form, entrypoint, arguments and test cases travel as one serialized
-- voidrunner.jobs.v1.RunInputs (its source and stdin stay in their columns).
ALTER TABLE tasks
    ADD COLUMN version text NOT NULL DEFAULT '',
    ADD COLUMN inputs bytea,
    ALTER COLUMN script_content DROP NOT NULL,
    DROP CONSTRAINT tasks_script_content_check,
    ADD CONSTRAINT tasks_script_content_check CHECK (length(script_content) <= 65535);

ALTER TABLE executions
    ALTER COLUMN task_id DROP NOT NULL,
    ADD COLUMN script_type text NOT NULL DEFAULT '',
    ADD COLUMN version text NOT NULL DEFAULT '',
    -- The limits the run had: {timeout_seconds, memory_limit_mb, cpu_limit, max_output_bytes}.
    ADD COLUMN limits jsonb,
    -- A one-shot run's own inputs (serialized RunInputs): what ran, for its history.
    ADD COLUMN inputs bytea,
    ADD COLUMN verdict text CHECK (verdict IN
        ('accepted', 'wrong_answer', 'time_limit_exceeded', 'memory_limit_exceeded',
         'output_limit_exceeded', 'runtime_error', 'compile_error', 'internal_error')),
    ADD COLUMN passed integer NOT NULL DEFAULT 0,
    ADD COLUMN total integer NOT NULL DEFAULT 0,
    -- Every case's result, visible outputs and log marks (serialized jobs.v1.CaseRecord).
    ADD COLUMN cases bytea;

-- Every execution of a user, newest first (tasks and one-shot runs alike), keyset on (created_at, id).
CREATE INDEX executions_user_created_idx ON executions (user_id, created_at, id);

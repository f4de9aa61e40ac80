-- Results as the executors report them: output as the exact bytes (any encoding, any size up to
-- the operator's cap; the gateway derives text and base64), the chunk layout the live log used
-- (so replays rebuild the same events), CPU time, the signal that ended a program, the compile
-- step apart from the run, and the claimed attempt's deadline for the reaper.
ALTER TABLE executions
    ALTER COLUMN stdout TYPE bytea USING convert_to(stdout, 'UTF8'),
    ALTER COLUMN stderr TYPE bytea USING convert_to(stderr, 'UTF8'),
    ADD COLUMN output_spans integer[],
    ADD COLUMN cpu_time_ms bigint CHECK (cpu_time_ms >= 0),
    ADD COLUMN exit_signal text CHECK (length(exit_signal) BETWEEN 1 AND 16),
    ADD COLUMN compile_output bytea,
    ADD COLUMN compile_time_ms bigint CHECK (compile_time_ms >= 0),
    -- Set when an executor claims an attempt: its start plus the longest the attempt can take.
    ADD COLUMN deadline_at timestamptz,
    -- A cancelled run whose executor has not reported what it printed before the cancel yet.
    ADD COLUMN output_pending boolean NOT NULL DEFAULT false,
    DROP CONSTRAINT executions_termination_reason_check,
    ADD CONSTRAINT executions_termination_reason_check CHECK (termination_reason IN
        ('exit', 'timeout', 'memory_limit', 'output_limit', 'pids_limit', 'security_violation',
         'cancelled', 'compile_error', 'sandbox_error'));

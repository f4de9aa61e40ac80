-- Output that is not UTF-8 text (or holds NUL) cannot become text again: it is kept escaped.
CREATE FUNCTION pg_temp.as_text(data bytea) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    RETURN convert_from(data, 'UTF8');
EXCEPTION WHEN others THEN
    RETURN encode(data, 'escape');
END $$;
UPDATE executions SET termination_reason = 'sandbox_error'
WHERE termination_reason IN ('pids_limit', 'security_violation', 'compile_error');
ALTER TABLE executions
    DROP CONSTRAINT executions_termination_reason_check,
    ADD CONSTRAINT executions_termination_reason_check CHECK (termination_reason IN
        ('exit', 'timeout', 'memory_limit', 'output_limit', 'cancelled', 'sandbox_error')),
    DROP COLUMN output_pending,
    DROP COLUMN deadline_at,
    DROP COLUMN compile_time_ms,
    DROP COLUMN compile_output,
    DROP COLUMN exit_signal,
    DROP COLUMN cpu_time_ms,
    DROP COLUMN output_spans,
    ALTER COLUMN stdout TYPE text USING pg_temp.as_text(stdout),
    ALTER COLUMN stderr TYPE text USING pg_temp.as_text(stderr);

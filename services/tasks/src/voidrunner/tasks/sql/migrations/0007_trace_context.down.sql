ALTER TABLE execution_outbox DROP COLUMN trace_parent;

-- The W3C traceparent of the request that queued a job, so the relay's publish (a later
-- transaction, maybe another replica) continues that request's trace. NULL when not traced.
ALTER TABLE execution_outbox ADD COLUMN trace_parent text
    CHECK (trace_parent IS NULL OR length(trace_parent) <= 128);

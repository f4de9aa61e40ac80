-- Tasks, their executions, and the transactional outbox that hands new executions to the scheduler.
-- user_id has no foreign key: users belong to the auth service, and each service owns its tables.

CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE tasks (
    id               uuid PRIMARY KEY,
    user_id          uuid NOT NULL,
    name             text NOT NULL CHECK (length(name) BETWEEN 1 AND 255),
    description      text CHECK (length(description) <= 1000),
    script_content   text NOT NULL CHECK (length(script_content) BETWEEN 1 AND 65535),
    script_type      text NOT NULL,
    status           text NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'running', 'completed', 'failed', 'timeout', 'cancelled')),
    priority         integer NOT NULL CHECK (priority BETWEEN 0 AND 10),
    timeout_seconds  integer NOT NULL CHECK (timeout_seconds BETWEEN 1 AND 3600),
    metadata         jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(metadata) = 'object'),
    -- bytea: stdin is handed to the program as bytes and may hold NUL, which text cannot.
    stdin            bytea CHECK (octet_length(stdin) <= 1048576),
    env              jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(env) = 'object'),
    memory_limit_mb  integer NOT NULL CHECK (memory_limit_mb >= 16),
    cpu_limit        double precision NOT NULL CHECK (cpu_limit >= 0.1),
    max_output_bytes bigint NOT NULL CHECK (max_output_bytes >= 1024),
    created_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at       timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- List indexes, measured with EXPLAIN ANALYZE on 100k tasks of one user plus 50k of 50 others
-- (services/tasks/bench/explain_lists.py; figures in the issue 3 report). Lists always filter on
-- user_id and order by one of four keys with id as the tie-breaker. Keyset pages seek
-- (user_id, key, id) straight off one of these indexes, forwards for asc and backwards for desc,
-- so one index serves both orders: a page costs 0.03-0.10 ms at any depth, where without them
-- every page sorted the user's 100k rows (19-34 ms). Equality filters (status, script_type) ride
-- on the same index scan (0.05 ms per page for a 25 % filter), so they get no index of their own.
CREATE INDEX tasks_user_created_idx ON tasks (user_id, created_at, id);
CREATE INDEX tasks_user_updated_idx ON tasks (user_id, updated_at, id);
CREATE INDEX tasks_user_priority_idx ON tasks (user_id, priority, id);
CREATE INDEX tasks_user_name_idx ON tasks (user_id, name, id);
-- q (substring search on name/description) and metadata containment are filters a B-tree cannot
-- serve; for selective values the planner bitmap-scans these GIN indexes (q: 2.8 ms instead of
-- 37 ms; metadata total: 8.5 ms instead of 27 ms). Common values keep using the sort index.
CREATE INDEX tasks_search_trgm_idx ON tasks
    USING gin ((name || ' ' || coalesce(description, '')) gin_trgm_ops);
CREATE INDEX tasks_metadata_idx ON tasks USING gin (metadata jsonb_path_ops);

CREATE TABLE executions (
    id                 uuid PRIMARY KEY,
    task_id            uuid NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    user_id            uuid NOT NULL,
    status             text NOT NULL DEFAULT 'pending'
                       CHECK (status IN ('pending', 'running', 'completed', 'failed', 'timeout', 'cancelled')),
    attempt            integer NOT NULL DEFAULT 1,
    return_code        integer,
    stdout             text,
    stderr             text,
    stdout_truncated   boolean NOT NULL DEFAULT false,
    stderr_truncated   boolean NOT NULL DEFAULT false,
    termination_reason text CHECK (termination_reason IN
                       ('exit', 'timeout', 'memory_limit', 'output_limit', 'cancelled', 'sandbox_error')),
    execution_time_ms  bigint,
    memory_usage_bytes bigint,
    idempotency_key    text CHECK (length(idempotency_key) BETWEEN 1 AND 255),
    started_at         timestamptz,
    completed_at       timestamptz,
    created_at         timestamptz NOT NULL DEFAULT clock_timestamp()
);
-- The database's own guarantee behind the row lock in start_execution: at most one active
-- (pending or running) execution per task, whatever code path inserts.
CREATE UNIQUE INDEX executions_one_active_per_task ON executions (task_id)
    WHERE status IN ('pending', 'running');
-- Per-task lists, newest first, keyset on (created_at, id).
CREATE INDEX executions_task_created_idx ON executions (task_id, created_at, id);
-- A retried start with the same Idempotency-Key finds the execution the first one created.
CREATE UNIQUE INDEX executions_idempotency_key ON executions (task_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;

-- Transactional outbox: a row is written in the same transaction as its pending execution, so
-- work committed while NATS is down is published once it is back. Relays claim rows with
-- FOR UPDATE SKIP LOCKED and mark them published (see voidrunner.tasks.outbox).
CREATE TABLE execution_outbox (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    execution_id  uuid NOT NULL REFERENCES executions (id) ON DELETE CASCADE,
    -- A serialized voidrunner.jobs.v1.Job: a snapshot of the task when the execution started.
    payload       bytea NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    attempts      integer NOT NULL DEFAULT 0,
    published_at  timestamptz
);
CREATE INDEX execution_outbox_pending_idx ON execution_outbox (id) WHERE published_at IS NULL;
CREATE INDEX execution_outbox_execution_idx ON execution_outbox (execution_id);

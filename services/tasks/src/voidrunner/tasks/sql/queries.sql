-- Tasks service queries. Parameters are $n only; list sorts are a fixed set of variants
-- (list_tasks_<field>_<order>) chosen by the repository from a whitelist, never built from input.

-- name: insert_task
INSERT INTO tasks (id, user_id, name, description, script_content, script_type, priority,
                   timeout_seconds, metadata, stdin, env, memory_limit_mb, cpu_limit,
                   max_output_bytes, version, inputs)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
RETURNING id, user_id, name, description, script_content, script_type, status, priority,
       timeout_seconds, metadata, stdin, env, memory_limit_mb, cpu_limit, max_output_bytes,
       version, inputs, created_at, updated_at;

-- name: get_task
SELECT id, user_id, name, description, script_content, script_type, status, priority,
       timeout_seconds, metadata, stdin, env, memory_limit_mb, cpu_limit, max_output_bytes,
       version, inputs, created_at, updated_at
FROM tasks WHERE id = $1 AND user_id = $2;

-- name: lock_task
SELECT id, user_id, name, description, script_content, script_type, status, priority,
       timeout_seconds, metadata, stdin, env, memory_limit_mb, cpu_limit, max_output_bytes,
       version, inputs, created_at, updated_at
FROM tasks WHERE id = $1 AND user_id = $2
FOR UPDATE;

-- name: lock_task_of_execution
-- Whether the execution exists, and its task locked (tasks before executions, as everywhere;
-- a one-shot run has no task to lock).
WITH e AS (SELECT task_id FROM executions WHERE id = $1)
SELECT EXISTS (SELECT 1 FROM e) AS found,
       (SELECT id FROM tasks WHERE id = (SELECT task_id FROM e) FOR UPDATE) AS task_id;

-- name: get_task_any_owner
SELECT id, user_id, name, description, script_content, script_type, status, priority,
       timeout_seconds, metadata, stdin, env, memory_limit_mb, cpu_limit, max_output_bytes,
       version, inputs, created_at, updated_at
FROM tasks WHERE id = $1;

-- name: list_overdue_executions
-- Served by the partial index on active executions (migration 0002).
SELECT e.id
FROM executions e JOIN tasks t ON t.id = e.task_id
WHERE e.status IN ('pending', 'running')
  AND ((e.status = 'pending' AND e.created_at < $1)
    OR (e.status = 'running'
        AND coalesce(e.deadline_at,
                     coalesce(e.started_at, e.created_at) + make_interval(secs => t.timeout_seconds))
            + make_interval(secs => $2::double precision) < $3))
ORDER BY e.created_at
LIMIT $4;

-- name: lock_task_by_id
SELECT id, user_id, name, description, script_content, script_type, status, priority,
       timeout_seconds, metadata, stdin, env, memory_limit_mb, cpu_limit, max_output_bytes,
       version, inputs, created_at, updated_at
FROM tasks WHERE id = $1
FOR UPDATE;

-- name: update_task
UPDATE tasks
SET name = $2, description = $3, script_content = $4, script_type = $5, priority = $6,
    timeout_seconds = $7, metadata = $8, stdin = $9, env = $10, memory_limit_mb = $11,
    cpu_limit = $12, max_output_bytes = $13, version = $14, inputs = $15,
    updated_at = clock_timestamp()
WHERE id = $1
RETURNING id, user_id, name, description, script_content, script_type, status, priority,
       timeout_seconds, metadata, stdin, env, memory_limit_mb, cpu_limit, max_output_bytes,
       version, inputs, created_at, updated_at;

-- name: set_task_status
-- The task's status follows its latest execution, and updated_at says when it last changed.
UPDATE tasks SET status = $2, updated_at = clock_timestamp() WHERE id = $1;

-- name: delete_task
DELETE FROM tasks WHERE id = $1;

-- name: count_tasks
SELECT count(*)
FROM tasks
WHERE user_id = $1
  AND ($2::text IS NULL OR status = $2)
  AND ($3::text IS NULL OR script_type = $3)
  AND ($4::text IS NULL OR (name || ' ' || coalesce(description, '')) ILIKE $4)
  AND ($5::jsonb IS NULL OR metadata @> $5);

-- name: list_tasks_created_at_asc
SELECT id, user_id, name, description, script_content, script_type, status, priority,
       timeout_seconds, metadata, stdin, env, memory_limit_mb, cpu_limit, max_output_bytes,
       version, inputs, created_at, updated_at
FROM tasks
WHERE user_id = $1
  AND ($2::text IS NULL OR status = $2)
  AND ($3::text IS NULL OR script_type = $3)
  AND ($4::text IS NULL OR (name || ' ' || coalesce(description, '')) ILIKE $4)
  AND ($5::jsonb IS NULL OR metadata @> $5)
  AND ($6::timestamptz IS NULL OR (created_at, id) > ($6::timestamptz, $7::uuid))
ORDER BY created_at ASC, id ASC
LIMIT $8 OFFSET $9;

-- name: list_tasks_created_at_desc
SELECT id, user_id, name, description, script_content, script_type, status, priority,
       timeout_seconds, metadata, stdin, env, memory_limit_mb, cpu_limit, max_output_bytes,
       version, inputs, created_at, updated_at
FROM tasks
WHERE user_id = $1
  AND ($2::text IS NULL OR status = $2)
  AND ($3::text IS NULL OR script_type = $3)
  AND ($4::text IS NULL OR (name || ' ' || coalesce(description, '')) ILIKE $4)
  AND ($5::jsonb IS NULL OR metadata @> $5)
  AND ($6::timestamptz IS NULL OR (created_at, id) < ($6::timestamptz, $7::uuid))
ORDER BY created_at DESC, id DESC
LIMIT $8 OFFSET $9;

-- name: list_tasks_updated_at_asc
SELECT id, user_id, name, description, script_content, script_type, status, priority,
       timeout_seconds, metadata, stdin, env, memory_limit_mb, cpu_limit, max_output_bytes,
       version, inputs, created_at, updated_at
FROM tasks
WHERE user_id = $1
  AND ($2::text IS NULL OR status = $2)
  AND ($3::text IS NULL OR script_type = $3)
  AND ($4::text IS NULL OR (name || ' ' || coalesce(description, '')) ILIKE $4)
  AND ($5::jsonb IS NULL OR metadata @> $5)
  AND ($6::timestamptz IS NULL OR (updated_at, id) > ($6::timestamptz, $7::uuid))
ORDER BY updated_at ASC, id ASC
LIMIT $8 OFFSET $9;

-- name: list_tasks_updated_at_desc
SELECT id, user_id, name, description, script_content, script_type, status, priority,
       timeout_seconds, metadata, stdin, env, memory_limit_mb, cpu_limit, max_output_bytes,
       version, inputs, created_at, updated_at
FROM tasks
WHERE user_id = $1
  AND ($2::text IS NULL OR status = $2)
  AND ($3::text IS NULL OR script_type = $3)
  AND ($4::text IS NULL OR (name || ' ' || coalesce(description, '')) ILIKE $4)
  AND ($5::jsonb IS NULL OR metadata @> $5)
  AND ($6::timestamptz IS NULL OR (updated_at, id) < ($6::timestamptz, $7::uuid))
ORDER BY updated_at DESC, id DESC
LIMIT $8 OFFSET $9;

-- name: list_tasks_priority_asc
SELECT id, user_id, name, description, script_content, script_type, status, priority,
       timeout_seconds, metadata, stdin, env, memory_limit_mb, cpu_limit, max_output_bytes,
       version, inputs, created_at, updated_at
FROM tasks
WHERE user_id = $1
  AND ($2::text IS NULL OR status = $2)
  AND ($3::text IS NULL OR script_type = $3)
  AND ($4::text IS NULL OR (name || ' ' || coalesce(description, '')) ILIKE $4)
  AND ($5::jsonb IS NULL OR metadata @> $5)
  AND ($6::integer IS NULL OR (priority, id) > ($6::integer, $7::uuid))
ORDER BY priority ASC, id ASC
LIMIT $8 OFFSET $9;

-- name: list_tasks_priority_desc
SELECT id, user_id, name, description, script_content, script_type, status, priority,
       timeout_seconds, metadata, stdin, env, memory_limit_mb, cpu_limit, max_output_bytes,
       version, inputs, created_at, updated_at
FROM tasks
WHERE user_id = $1
  AND ($2::text IS NULL OR status = $2)
  AND ($3::text IS NULL OR script_type = $3)
  AND ($4::text IS NULL OR (name || ' ' || coalesce(description, '')) ILIKE $4)
  AND ($5::jsonb IS NULL OR metadata @> $5)
  AND ($6::integer IS NULL OR (priority, id) < ($6::integer, $7::uuid))
ORDER BY priority DESC, id DESC
LIMIT $8 OFFSET $9;

-- name: list_tasks_name_asc
SELECT id, user_id, name, description, script_content, script_type, status, priority,
       timeout_seconds, metadata, stdin, env, memory_limit_mb, cpu_limit, max_output_bytes,
       version, inputs, created_at, updated_at
FROM tasks
WHERE user_id = $1
  AND ($2::text IS NULL OR status = $2)
  AND ($3::text IS NULL OR script_type = $3)
  AND ($4::text IS NULL OR (name || ' ' || coalesce(description, '')) ILIKE $4)
  AND ($5::jsonb IS NULL OR metadata @> $5)
  AND ($6::text IS NULL OR (name, id) > ($6::text, $7::uuid))
ORDER BY name ASC, id ASC
LIMIT $8 OFFSET $9;

-- name: list_tasks_name_desc
SELECT id, user_id, name, description, script_content, script_type, status, priority,
       timeout_seconds, metadata, stdin, env, memory_limit_mb, cpu_limit, max_output_bytes,
       version, inputs, created_at, updated_at
FROM tasks
WHERE user_id = $1
  AND ($2::text IS NULL OR status = $2)
  AND ($3::text IS NULL OR script_type = $3)
  AND ($4::text IS NULL OR (name || ' ' || coalesce(description, '')) ILIKE $4)
  AND ($5::jsonb IS NULL OR metadata @> $5)
  AND ($6::text IS NULL OR (name, id) < ($6::text, $7::uuid))
ORDER BY name DESC, id DESC
LIMIT $8 OFFSET $9;

-- name: insert_execution
-- Nothing is inserted (no row returned) when the task already has an active execution.
-- A task's execution takes its task's callback URL, a one-shot run its own ($9).
INSERT INTO executions (id, task_id, user_id, idempotency_key, script_type, version, limits,
                        inputs, callback_url, started_by)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8,
        coalesce($9, (SELECT url FROM task_callbacks WHERE task_id = $2)), $10)
ON CONFLICT (task_id) WHERE status IN ('pending', 'running') DO NOTHING
RETURNING id, task_id, user_id, status, attempt, return_code, stdout, stderr, stdout_truncated,
       stderr_truncated, termination_reason, termination_detail, execution_time_ms,
       memory_usage_bytes, cpu_time_ms, exit_signal, compile_output, compile_time_ms,
       output_spans, deadline_at, output_pending, script_type, version, limits, inputs,
       verdict, passed, total, cases,
       idempotency_key, started_at, completed_at, created_at, started_by;

-- name: execution_by_idempotency_key
SELECT id, task_id, user_id, status, attempt, return_code, stdout, stderr, stdout_truncated,
       stderr_truncated, termination_reason, termination_detail, execution_time_ms,
       memory_usage_bytes, cpu_time_ms, exit_signal, compile_output, compile_time_ms,
       output_spans, deadline_at, output_pending, script_type, version, limits, inputs,
       verdict, passed, total, cases,
       idempotency_key, started_at, completed_at, created_at, started_by
FROM executions WHERE task_id = $1 AND idempotency_key = $2 AND started_by = $3;

-- name: get_execution
SELECT id, task_id, user_id, status, attempt, return_code, stdout, stderr, stdout_truncated,
       stderr_truncated, termination_reason, termination_detail, execution_time_ms,
       memory_usage_bytes, cpu_time_ms, exit_signal, compile_output, compile_time_ms,
       output_spans, deadline_at, output_pending, script_type, version, limits, inputs,
       verdict, passed, total, cases,
       idempotency_key, started_at, completed_at, created_at, started_by, claim_hash
FROM executions WHERE id = $1 AND user_id = $2;

-- name: get_execution_any_owner
SELECT id, task_id, user_id, status, attempt, return_code, stdout, stderr, stdout_truncated,
       stderr_truncated, termination_reason, termination_detail, execution_time_ms,
       memory_usage_bytes, cpu_time_ms, exit_signal, compile_output, compile_time_ms,
       output_spans, deadline_at, output_pending, script_type, version, limits, inputs,
       verdict, passed, total, cases,
       idempotency_key, started_at, completed_at, created_at, started_by, claim_hash
FROM executions WHERE id = $1;

-- name: lock_execution
SELECT id, task_id, user_id, status, attempt, return_code, stdout, stderr, stdout_truncated,
       stderr_truncated, termination_reason, termination_detail, execution_time_ms,
       memory_usage_bytes, cpu_time_ms, exit_signal, compile_output, compile_time_ms,
       output_spans, deadline_at, output_pending, script_type, version, limits, inputs,
       verdict, passed, total, cases,
       idempotency_key, started_at, completed_at, created_at, started_by, claim_hash
FROM executions WHERE id = $1
FOR UPDATE;

-- name: update_execution
-- $27: the status the execution's task takes now, in the same statement (NULL: it keeps its
-- own); the caller holds the task's lock.
WITH task AS (
    UPDATE tasks SET status = $27::text, updated_at = clock_timestamp()
    WHERE $27::text IS NOT NULL AND id = (SELECT task_id FROM executions WHERE id = $1)
)
UPDATE executions
SET status = $2, return_code = $3, stdout = $4, stderr = $5, stdout_truncated = $6,
    stderr_truncated = $7, termination_reason = $8, execution_time_ms = $9,
    memory_usage_bytes = $10, started_at = $11, completed_at = $12, attempt = $13,
    termination_detail = $14, cpu_time_ms = $15, exit_signal = $16, compile_output = $17,
    compile_time_ms = $18, output_spans = $19, deadline_at = $20, output_pending = $21,
    verdict = $22, passed = $23, total = $24, cases = $25, claim_hash = $26
WHERE id = $1
RETURNING id, task_id, user_id, status, attempt, return_code, stdout, stderr, stdout_truncated,
       stderr_truncated, termination_reason, termination_detail, execution_time_ms,
       memory_usage_bytes, cpu_time_ms, exit_signal, compile_output, compile_time_ms,
       output_spans, deadline_at, output_pending, script_type, version, limits, inputs,
       verdict, passed, total, cases,
       idempotency_key, started_at, completed_at, created_at, started_by, claim_hash,
       -- Whether a status change may owe webhook deliveries: when not, the change skips the
       -- statement that would queue none (most users have no webhooks).
       (callback_url IS NOT NULL OR EXISTS (
           SELECT 1 FROM webhook_endpoints w WHERE w.user_id = executions.user_id AND w.enabled
       )) AS webhook_subscribed;

-- name: count_executions
SELECT count(*) FROM executions WHERE task_id = $1;

-- name: list_executions
-- Newest first; keyset on (created_at, id) like the task lists. Summaries: no output.
SELECT id, task_id, user_id, status, attempt, return_code, NULL::bytea AS stdout,
       NULL::bytea AS stderr, stdout_truncated, stderr_truncated, termination_reason,
       termination_detail, execution_time_ms, memory_usage_bytes, cpu_time_ms, exit_signal,
       NULL::bytea AS compile_output, compile_time_ms, NULL::integer[] AS output_spans,
       deadline_at, output_pending, script_type, version, limits, NULL::bytea AS inputs,
       verdict, passed, total, NULL::bytea AS cases,
       idempotency_key, started_at, completed_at, created_at, started_by
FROM executions
WHERE task_id = $1
  AND ($2::timestamptz IS NULL OR (created_at, id) < ($2::timestamptz, $3::uuid))
ORDER BY created_at DESC, id DESC
LIMIT $4 OFFSET $5;

-- name: list_user_executions
-- Every execution of a user, tasks and one-shot runs alike, newest first, filtered; summaries.
SELECT id, task_id, user_id, status, attempt, return_code, NULL::bytea AS stdout,
       NULL::bytea AS stderr, stdout_truncated, stderr_truncated, termination_reason,
       termination_detail, execution_time_ms, memory_usage_bytes, cpu_time_ms, exit_signal,
       NULL::bytea AS compile_output, compile_time_ms, NULL::integer[] AS output_spans,
       deadline_at, output_pending, script_type, version, limits, NULL::bytea AS inputs,
       verdict, passed, total, NULL::bytea AS cases,
       idempotency_key, started_at, completed_at, created_at, started_by
FROM executions
WHERE user_id = $1
  AND ($2::text IS NULL OR status = $2)
  AND ($3::text IS NULL OR script_type = $3)
  AND ($4::uuid IS NULL OR task_id = $4)
  AND ($5::timestamptz IS NULL OR created_at > $5)
  AND ($6::timestamptz IS NULL OR created_at < $6)
  AND ($7::uuid[] IS NULL OR id = ANY($7::uuid[]))
  AND ($8::timestamptz IS NULL OR (created_at, id) < ($8::timestamptz, $9::uuid))
ORDER BY created_at DESC, id DESC
LIMIT $10 OFFSET $11;

-- name: count_user_executions
SELECT count(*)
FROM executions
WHERE user_id = $1
  AND ($2::text IS NULL OR status = $2)
  AND ($3::text IS NULL OR script_type = $3)
  AND ($4::uuid IS NULL OR task_id = $4)
  AND ($5::timestamptz IS NULL OR created_at > $5)
  AND ($6::timestamptz IS NULL OR created_at < $6)
  AND ($7::uuid[] IS NULL OR id = ANY($7::uuid[]));

-- name: insert_outbox
INSERT INTO execution_outbox (execution_id, payload, trace_parent) VALUES ($1, $2, $3);

-- name: notify_outbox
-- Delivered on commit only, so a listening relay never sees work that was rolled back.
SELECT pg_notify($1, '');

-- name: discard_outbox
-- A pending execution cancelled before the relay published it needs no job at all.
DELETE FROM execution_outbox WHERE execution_id = $1 AND published_at IS NULL;

-- name: claim_outbox
-- Row locks held until the claiming transaction ends; concurrent relays skip them.
SELECT id, execution_id, payload, attempts, created_at, trace_parent
FROM execution_outbox
WHERE published_at IS NULL
ORDER BY id
LIMIT $1
FOR UPDATE SKIP LOCKED;

-- name: mark_outbox_published
UPDATE execution_outbox SET published_at = clock_timestamp(), attempts = attempts + 1
WHERE id = ANY($1::bigint[]) AND published_at IS NULL;

-- name: mark_outbox_failed
UPDATE execution_outbox SET attempts = attempts + 1
WHERE id = ANY($1::bigint[]) AND published_at IS NULL;

-- name: purge_outbox
DELETE FROM execution_outbox WHERE published_at < $1;

-- name: pending_outbox_count
SELECT count(*) FROM execution_outbox WHERE published_at IS NULL;

-- name: stats_active
-- Executions pending and running now (the partial index keeps this cheap).
SELECT count(*) FILTER (WHERE status = 'pending') AS pending,
       count(*) FILTER (WHERE status = 'running') AS running
FROM executions WHERE status IN ('pending', 'running');

-- name: stats_by_status
-- $1: the window's start. Executions accepted since, by status and termination reason.
SELECT status, termination_reason, count(*) AS n
FROM executions WHERE created_at >= $1
GROUP BY status, termination_reason;

-- name: stats_by_runtime
-- The execution's own runtime (one-shot runs have no task); rows older than that column have ''.
SELECT coalesce(nullif(e.script_type, ''), t.script_type) AS runtime,
       count(*) AS executions,
       count(*) FILTER (WHERE e.status IN ('failed', 'timeout', 'cancelled')) AS unsuccessful,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY e.execution_time_ms) AS run_p50,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY e.execution_time_ms) AS run_p95,
       percentile_cont(0.5) WITHIN GROUP (
           ORDER BY extract(epoch FROM e.started_at - e.created_at) * 1000) AS wait_p50,
       percentile_cont(0.95) WITHIN GROUP (
           ORDER BY extract(epoch FROM e.started_at - e.created_at) * 1000) AS wait_p95
FROM executions e LEFT JOIN tasks t ON t.id = e.task_id
WHERE e.created_at >= $1
GROUP BY 1
ORDER BY 1;

-- name: stats_per_minute
-- Every minute from $1's to now's: executions accepted in it, and executions that finished in
-- it (whenever they were accepted: a long run started before the window still ends in it).
WITH minutes AS (
    SELECT generate_series(date_trunc('minute', $1::timestamptz),
                           date_trunc('minute', now()), interval '1 minute') AS minute
), accepted AS (
    SELECT date_trunc('minute', created_at) AS minute, count(*) AS n
    FROM executions WHERE created_at >= $1 GROUP BY 1
), finished AS (
    SELECT date_trunc('minute', completed_at) AS minute, count(*) AS n
    FROM executions WHERE completed_at >= $1 GROUP BY 1
)
SELECT m.minute, coalesce(a.n, 0) AS accepted, coalesce(f.n, 0) AS finished
FROM minutes m
LEFT JOIN accepted a ON a.minute = m.minute
LEFT JOIN finished f ON f.minute = m.minute
ORDER BY m.minute;

-- name: stats_outbox
SELECT count(*) AS pending,
       coalesce(extract(epoch FROM now() - min(created_at)), 0) AS oldest_seconds
FROM execution_outbox WHERE published_at IS NULL;

-- Sharing (issue 18): task_shares and the reads of callers a task is shared with.
-- The caller's email is a parameter lower-cased here, by the lower() shares were stored with; an
-- empty one (a caller without an email) matches no share. shared_role is NULL for the owner.

-- name: visible_task
-- The task if the caller owns it or it is shared with their email; its callback URL for its
-- owner alone (in the same round trip).
SELECT t.id, t.user_id, t.name, t.description, t.script_content, t.script_type, t.status,
       t.priority, t.timeout_seconds, t.metadata, t.stdin, t.env, t.memory_limit_mb, t.cpu_limit,
       t.max_output_bytes, t.version, t.inputs, t.created_at, t.updated_at,
       CASE WHEN t.user_id = $2 THEN NULL ELSE s.role END AS shared_role,
       (SELECT c.url FROM task_callbacks c WHERE c.task_id = t.id AND t.user_id = $2)
           AS callback_url
FROM tasks t LEFT JOIN task_shares s ON s.task_id = t.id AND s.email = lower($3)
WHERE t.id = $1 AND (t.user_id = $2 OR s.role IS NOT NULL);

-- name: lock_visible_task
-- visible_task, with the task row locked until the transaction ends (a start, a cancel).
SELECT t.id, t.user_id, t.name, t.description, t.script_content, t.script_type, t.status,
       t.priority, t.timeout_seconds, t.metadata, t.stdin, t.env, t.memory_limit_mb, t.cpu_limit,
       t.max_output_bytes, t.version, t.inputs, t.created_at, t.updated_at,
       CASE WHEN t.user_id = $2 THEN NULL ELSE s.role END AS shared_role
FROM tasks t LEFT JOIN task_shares s ON s.task_id = t.id AND s.email = lower($3)
WHERE t.id = $1 AND (t.user_id = $2 OR s.role IS NOT NULL)
FOR UPDATE OF t;

-- name: visible_execution
-- The execution if the caller owns it or its task is shared with their email (a one-shot run
-- has no task, so only its owner sees it).
SELECT e.id, e.task_id, e.user_id, status, attempt, return_code, stdout, stderr, stdout_truncated,
       stderr_truncated, termination_reason, termination_detail, execution_time_ms,
       memory_usage_bytes, cpu_time_ms, exit_signal, compile_output, compile_time_ms,
       output_spans, deadline_at, output_pending, script_type, version, limits, inputs,
       verdict, passed, total, cases,
       idempotency_key, started_at, completed_at, e.created_at, e.started_by, e.claim_hash,
       CASE WHEN e.user_id = $2 THEN NULL ELSE s.role END AS shared_role
FROM executions e LEFT JOIN task_shares s ON s.task_id = e.task_id AND s.email = lower($3)
WHERE e.id = $1 AND (e.user_id = $2 OR s.role IS NOT NULL);

-- name: list_shares
SELECT email, role, created_at, updated_at FROM task_shares WHERE task_id = $1
ORDER BY created_at, email;

-- name: count_shares
SELECT count(*) FROM task_shares WHERE task_id = $1;

-- name: put_share
-- Creates the share or changes its role; `created` tells which (xmax is 0 on a fresh row).
INSERT INTO task_shares (task_id, email, role) VALUES ($1, lower($2), $3)
ON CONFLICT (task_id, email) DO UPDATE
    SET role = EXCLUDED.role,
        updated_at = CASE WHEN task_shares.role = EXCLUDED.role THEN task_shares.updated_at
                          ELSE clock_timestamp() END
RETURNING email, role, created_at, updated_at, (xmax = 0) AS created;

-- name: delete_share
DELETE FROM task_shares WHERE task_id = $1 AND email = lower($2) RETURNING email;

-- name: count_shared_tasks
SELECT count(*)
FROM tasks t JOIN task_shares s ON s.task_id = t.id AND s.email = lower($1)
WHERE ($2::text IS NULL OR t.status = $2)
  AND ($3::text IS NULL OR t.script_type = $3)
  AND ($4::text IS NULL OR (t.name || ' ' || coalesce(t.description, '')) ILIKE $4)
  AND ($5::jsonb IS NULL OR t.metadata @> $5);

-- name: list_shared_tasks_created_at_asc
SELECT t.id, t.user_id, t.name, t.description, t.script_content, t.script_type, t.status,
       t.priority, t.timeout_seconds, t.metadata, t.stdin, t.env, t.memory_limit_mb, t.cpu_limit,
       t.max_output_bytes, t.version, t.inputs, t.created_at, t.updated_at,
       s.role AS shared_role
FROM tasks t JOIN task_shares s ON s.task_id = t.id AND s.email = lower($1)
WHERE ($2::text IS NULL OR t.status = $2)
  AND ($3::text IS NULL OR t.script_type = $3)
  AND ($4::text IS NULL OR (t.name || ' ' || coalesce(t.description, '')) ILIKE $4)
  AND ($5::jsonb IS NULL OR t.metadata @> $5)
  AND ($6::timestamptz IS NULL OR (t.created_at, t.id) > ($6::timestamptz, $7::uuid))
ORDER BY t.created_at ASC, t.id ASC
LIMIT $8 OFFSET $9;

-- name: list_shared_tasks_created_at_desc
SELECT t.id, t.user_id, t.name, t.description, t.script_content, t.script_type, t.status,
       t.priority, t.timeout_seconds, t.metadata, t.stdin, t.env, t.memory_limit_mb, t.cpu_limit,
       t.max_output_bytes, t.version, t.inputs, t.created_at, t.updated_at,
       s.role AS shared_role
FROM tasks t JOIN task_shares s ON s.task_id = t.id AND s.email = lower($1)
WHERE ($2::text IS NULL OR t.status = $2)
  AND ($3::text IS NULL OR t.script_type = $3)
  AND ($4::text IS NULL OR (t.name || ' ' || coalesce(t.description, '')) ILIKE $4)
  AND ($5::jsonb IS NULL OR t.metadata @> $5)
  AND ($6::timestamptz IS NULL OR (t.created_at, t.id) < ($6::timestamptz, $7::uuid))
ORDER BY t.created_at DESC, t.id DESC
LIMIT $8 OFFSET $9;

-- name: list_shared_tasks_updated_at_asc
SELECT t.id, t.user_id, t.name, t.description, t.script_content, t.script_type, t.status,
       t.priority, t.timeout_seconds, t.metadata, t.stdin, t.env, t.memory_limit_mb, t.cpu_limit,
       t.max_output_bytes, t.version, t.inputs, t.created_at, t.updated_at,
       s.role AS shared_role
FROM tasks t JOIN task_shares s ON s.task_id = t.id AND s.email = lower($1)
WHERE ($2::text IS NULL OR t.status = $2)
  AND ($3::text IS NULL OR t.script_type = $3)
  AND ($4::text IS NULL OR (t.name || ' ' || coalesce(t.description, '')) ILIKE $4)
  AND ($5::jsonb IS NULL OR t.metadata @> $5)
  AND ($6::timestamptz IS NULL OR (t.updated_at, t.id) > ($6::timestamptz, $7::uuid))
ORDER BY t.updated_at ASC, t.id ASC
LIMIT $8 OFFSET $9;

-- name: list_shared_tasks_updated_at_desc
SELECT t.id, t.user_id, t.name, t.description, t.script_content, t.script_type, t.status,
       t.priority, t.timeout_seconds, t.metadata, t.stdin, t.env, t.memory_limit_mb, t.cpu_limit,
       t.max_output_bytes, t.version, t.inputs, t.created_at, t.updated_at,
       s.role AS shared_role
FROM tasks t JOIN task_shares s ON s.task_id = t.id AND s.email = lower($1)
WHERE ($2::text IS NULL OR t.status = $2)
  AND ($3::text IS NULL OR t.script_type = $3)
  AND ($4::text IS NULL OR (t.name || ' ' || coalesce(t.description, '')) ILIKE $4)
  AND ($5::jsonb IS NULL OR t.metadata @> $5)
  AND ($6::timestamptz IS NULL OR (t.updated_at, t.id) < ($6::timestamptz, $7::uuid))
ORDER BY t.updated_at DESC, t.id DESC
LIMIT $8 OFFSET $9;

-- name: list_shared_tasks_priority_asc
SELECT t.id, t.user_id, t.name, t.description, t.script_content, t.script_type, t.status,
       t.priority, t.timeout_seconds, t.metadata, t.stdin, t.env, t.memory_limit_mb, t.cpu_limit,
       t.max_output_bytes, t.version, t.inputs, t.created_at, t.updated_at,
       s.role AS shared_role
FROM tasks t JOIN task_shares s ON s.task_id = t.id AND s.email = lower($1)
WHERE ($2::text IS NULL OR t.status = $2)
  AND ($3::text IS NULL OR t.script_type = $3)
  AND ($4::text IS NULL OR (t.name || ' ' || coalesce(t.description, '')) ILIKE $4)
  AND ($5::jsonb IS NULL OR t.metadata @> $5)
  AND ($6::integer IS NULL OR (t.priority, t.id) > ($6::integer, $7::uuid))
ORDER BY t.priority ASC, t.id ASC
LIMIT $8 OFFSET $9;

-- name: list_shared_tasks_priority_desc
SELECT t.id, t.user_id, t.name, t.description, t.script_content, t.script_type, t.status,
       t.priority, t.timeout_seconds, t.metadata, t.stdin, t.env, t.memory_limit_mb, t.cpu_limit,
       t.max_output_bytes, t.version, t.inputs, t.created_at, t.updated_at,
       s.role AS shared_role
FROM tasks t JOIN task_shares s ON s.task_id = t.id AND s.email = lower($1)
WHERE ($2::text IS NULL OR t.status = $2)
  AND ($3::text IS NULL OR t.script_type = $3)
  AND ($4::text IS NULL OR (t.name || ' ' || coalesce(t.description, '')) ILIKE $4)
  AND ($5::jsonb IS NULL OR t.metadata @> $5)
  AND ($6::integer IS NULL OR (t.priority, t.id) < ($6::integer, $7::uuid))
ORDER BY t.priority DESC, t.id DESC
LIMIT $8 OFFSET $9;

-- name: list_shared_tasks_name_asc
SELECT t.id, t.user_id, t.name, t.description, t.script_content, t.script_type, t.status,
       t.priority, t.timeout_seconds, t.metadata, t.stdin, t.env, t.memory_limit_mb, t.cpu_limit,
       t.max_output_bytes, t.version, t.inputs, t.created_at, t.updated_at,
       s.role AS shared_role
FROM tasks t JOIN task_shares s ON s.task_id = t.id AND s.email = lower($1)
WHERE ($2::text IS NULL OR t.status = $2)
  AND ($3::text IS NULL OR t.script_type = $3)
  AND ($4::text IS NULL OR (t.name || ' ' || coalesce(t.description, '')) ILIKE $4)
  AND ($5::jsonb IS NULL OR t.metadata @> $5)
  AND ($6::text IS NULL OR (t.name, t.id) > ($6::text, $7::uuid))
ORDER BY t.name ASC, t.id ASC
LIMIT $8 OFFSET $9;

-- name: list_shared_tasks_name_desc
SELECT t.id, t.user_id, t.name, t.description, t.script_content, t.script_type, t.status,
       t.priority, t.timeout_seconds, t.metadata, t.stdin, t.env, t.memory_limit_mb, t.cpu_limit,
       t.max_output_bytes, t.version, t.inputs, t.created_at, t.updated_at,
       s.role AS shared_role
FROM tasks t JOIN task_shares s ON s.task_id = t.id AND s.email = lower($1)
WHERE ($2::text IS NULL OR t.status = $2)
  AND ($3::text IS NULL OR t.script_type = $3)
  AND ($4::text IS NULL OR (t.name || ' ' || coalesce(t.description, '')) ILIKE $4)
  AND ($5::jsonb IS NULL OR t.metadata @> $5)
  AND ($6::text IS NULL OR (t.name, t.id) < ($6::text, $7::uuid))
ORDER BY t.name DESC, t.id DESC
LIMIT $8 OFFSET $9;

-- name: list_caller_executions
-- list_user_executions plus what the caller started on tasks still shared with them ($12, their
-- email): two ordered branches, each cut at the page's end, merged.
SELECT * FROM (
    (SELECT id, task_id, user_id, status, attempt, return_code, NULL::bytea AS stdout,
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
    LIMIT $10::integer + $11::integer)
    UNION ALL
    (SELECT id, task_id, user_id, status, attempt, return_code, NULL::bytea AS stdout,
           NULL::bytea AS stderr, stdout_truncated, stderr_truncated, termination_reason,
           termination_detail, execution_time_ms, memory_usage_bytes, cpu_time_ms, exit_signal,
           NULL::bytea AS compile_output, compile_time_ms, NULL::integer[] AS output_spans,
           deadline_at, output_pending, script_type, version, limits, NULL::bytea AS inputs,
           verdict, passed, total, NULL::bytea AS cases,
           idempotency_key, started_at, completed_at, created_at, started_by
    FROM executions
    WHERE started_by = $1 AND user_id <> $1 AND started_by <> user_id
      AND task_id IN (SELECT task_id FROM task_shares WHERE email = lower($12))
      AND ($2::text IS NULL OR status = $2)
      AND ($3::text IS NULL OR script_type = $3)
      AND ($4::uuid IS NULL OR task_id = $4)
      AND ($5::timestamptz IS NULL OR created_at > $5)
      AND ($6::timestamptz IS NULL OR created_at < $6)
      AND ($7::uuid[] IS NULL OR id = ANY($7::uuid[]))
      AND ($8::timestamptz IS NULL OR (created_at, id) < ($8::timestamptz, $9::uuid))
    ORDER BY created_at DESC, id DESC
    LIMIT $10::integer + $11::integer)
) mine
ORDER BY created_at DESC, id DESC
LIMIT $10 OFFSET $11;

-- name: count_caller_executions
SELECT (SELECT count(*) FROM executions WHERE user_id = $1 AND ($2::text IS NULL OR status = $2)
      AND ($3::text IS NULL OR script_type = $3)
      AND ($4::uuid IS NULL OR task_id = $4)
      AND ($5::timestamptz IS NULL OR created_at > $5)
      AND ($6::timestamptz IS NULL OR created_at < $6)
      AND ($7::uuid[] IS NULL OR id = ANY($7::uuid[])))
     + (SELECT count(*) FROM executions
        WHERE started_by = $1 AND user_id <> $1 AND started_by <> user_id
          AND task_id IN (SELECT task_id FROM task_shares WHERE email = lower($8))
          AND ($2::text IS NULL OR status = $2)
      AND ($3::text IS NULL OR script_type = $3)
      AND ($4::uuid IS NULL OR task_id = $4)
      AND ($5::timestamptz IS NULL OR created_at > $5)
      AND ($6::timestamptz IS NULL OR created_at < $6)
      AND ($7::uuid[] IS NULL OR id = ANY($7::uuid[])));

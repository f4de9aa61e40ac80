-- Webhook queries (tasks.webhooks.store). Parameters are $n only.

-- name: get_secret
SELECT secret, previous_secret, previous_valid_until, created_at
FROM webhook_secrets WHERE user_id = $1;

-- name: create_secret
-- Returns the secret only when this call created it (a concurrent first use makes one).
INSERT INTO webhook_secrets (user_id, secret) VALUES ($1, $2)
ON CONFLICT (user_id) DO NOTHING
RETURNING secret, previous_secret, previous_valid_until, created_at;

-- name: rotate_secret
-- The current secret becomes the previous one, signing beside the new one until the overlap
-- ends; a previous one still in its overlap is dropped (two signatures at most).
INSERT INTO webhook_secrets (user_id, secret) VALUES ($1, $2)
ON CONFLICT (user_id) DO UPDATE
SET previous_secret = webhook_secrets.secret,
    previous_valid_until = CASE WHEN $3::double precision > 0
                                THEN now() + make_interval(secs => $3::double precision) END,
    secret = EXCLUDED.secret,
    created_at = now()
RETURNING secret, previous_secret, previous_valid_until, created_at;

-- name: count_endpoints
SELECT count(*) FROM webhook_endpoints WHERE user_id = $1;

-- name: insert_endpoint
INSERT INTO webhook_endpoints (id, user_id, url, event_types, description, enabled)
VALUES ($1, $2, $3, $4, $5, $6)
RETURNING id, user_id, url, event_types, description, enabled, disabled_reason,
          consecutive_failures, failing_since, created_at, updated_at;

-- name: get_endpoint
SELECT id, user_id, url, event_types, description, enabled, disabled_reason,
       consecutive_failures, failing_since, created_at, updated_at
FROM webhook_endpoints WHERE id = $1 AND user_id = $2;

-- name: list_endpoints
-- Newest first; $2/$3 the keyset position (created_at, id) of the previous page's last row.
SELECT id, user_id, url, event_types, description, enabled, disabled_reason,
       consecutive_failures, failing_since, created_at, updated_at
FROM webhook_endpoints
WHERE user_id = $1 AND ($2::timestamptz IS NULL OR (created_at, id) < ($2, $3::uuid))
ORDER BY created_at DESC, id DESC
LIMIT $4;

-- name: update_endpoint
UPDATE webhook_endpoints
SET url = $3, event_types = $4, description = $5, enabled = $6, disabled_reason = $7,
    consecutive_failures = $8, failing_since = $9, updated_at = clock_timestamp()
WHERE id = $1 AND user_id = $2
RETURNING id, user_id, url, event_types, description, enabled, disabled_reason,
          consecutive_failures, failing_since, created_at, updated_at;

-- name: delete_endpoint
-- Its deliveries go with it (ON DELETE CASCADE): nothing more is sent to it.
DELETE FROM webhook_endpoints WHERE id = $1 AND user_id = $2;

-- name: fail_pending_of_endpoint
-- A disabled endpoint's pending deliveries end as failed (a redelivery can queue one again).
UPDATE webhook_deliveries SET state = 'failed', next_attempt_at = NULL, leased_until = NULL
WHERE endpoint_id = $1 AND state = 'pending';

-- name: enqueue_deliveries
-- In the transaction of an execution's status change: one delivery per enabled endpoint of
-- the owner subscribed to the event, and one to the execution's callback URL if it has one.
-- $1 owner, $2 event type, $3 execution, $4 body, $5 message id (webhook-id).
INSERT INTO webhook_deliveries (message_id, user_id, endpoint_id, url, event_type,
                                execution_id, body, next_attempt_at)
SELECT $5::text, $1::uuid, w.id, NULL::text, $2::text, $3::uuid, $4::text, now()
FROM webhook_endpoints w
WHERE w.user_id = $1::uuid AND w.enabled AND $2::text = ANY (w.event_types)
UNION ALL
SELECT $5::text, $1::uuid, NULL::uuid, e.callback_url, $2::text, $3::uuid, $4::text, now()
FROM executions e
WHERE e.id = $3::uuid AND e.callback_url IS NOT NULL;

-- name: claim_due
-- Lease up to $1 due deliveries for $2 seconds, at most $3 in flight per user, so one user's
-- slow receivers cannot hold every sender slot. SKIP LOCKED lets replicas share the work; a
-- lease that ran out (its sender died mid-attempt) makes the delivery due again, under the same
-- webhook-id, so the receiver can drop the copy.
WITH candidates AS (
    SELECT id, user_id, next_attempt_at,
           row_number() OVER (PARTITION BY user_id ORDER BY next_attempt_at, id) AS n
    FROM webhook_deliveries
    WHERE state = 'pending' AND next_attempt_at <= now()
      AND (leased_until IS NULL OR leased_until < now())
), busy AS (
    SELECT user_id, count(*) AS leased
    FROM webhook_deliveries
    WHERE state = 'pending' AND leased_until >= now()
    GROUP BY user_id
), due AS (
    SELECT d.id
    FROM webhook_deliveries d
    JOIN candidates c ON c.id = d.id
    LEFT JOIN busy b ON b.user_id = c.user_id
    -- Repeated on d itself: a row another sender leased meanwhile is re-read when it is locked,
    -- and only conditions on the locked row are checked again (not those of the CTE above).
    WHERE d.state = 'pending' AND d.next_attempt_at <= now()
      AND (d.leased_until IS NULL OR d.leased_until < now())
      AND c.n + coalesce(b.leased, 0) <= $3
    ORDER BY c.next_attempt_at
    LIMIT $1
    FOR UPDATE OF d SKIP LOCKED
), leased AS (
    UPDATE webhook_deliveries d
    SET leased_until = now() + make_interval(secs => $2::double precision)
    FROM due WHERE d.id = due.id
    RETURNING d.id, d.message_id, d.user_id, d.endpoint_id, d.url, d.body, d.attempts
)
SELECT l.id, l.message_id, l.user_id, l.endpoint_id, coalesce(w.url, l.url) AS url,
       coalesce(w.enabled, true) AS enabled, l.body, l.attempts,
       s.secret,
       CASE WHEN s.previous_valid_until > now() THEN s.previous_secret END AS previous_secret
FROM leased l
LEFT JOIN webhook_endpoints w ON w.id = l.endpoint_id
LEFT JOIN webhook_secrets s ON s.user_id = l.user_id;

-- name: record_attempt
-- One attempt's result: its log row, and the delivery's next state. $6 state, $7 next time.
WITH logged AS (
    INSERT INTO webhook_attempts (delivery_id, attempt, attempted_at, status_code,
                                  latency_ms, error)
    SELECT id, attempts + 1, $2, $3, $4, $5 FROM webhook_deliveries WHERE id = $1
    ON CONFLICT DO NOTHING
)
UPDATE webhook_deliveries
SET state = $6, attempts = attempts + 1, next_attempt_at = $7, leased_until = NULL
WHERE id = $1;

-- name: endpoint_succeeded
UPDATE webhook_endpoints SET consecutive_failures = 0, failing_since = NULL
WHERE id = $1 AND consecutive_failures > 0;

-- name: endpoint_failed
UPDATE webhook_endpoints
SET consecutive_failures = consecutive_failures + 1, failing_since = coalesce(failing_since, $2)
WHERE id = $1
RETURNING consecutive_failures, failing_since;

-- name: disable_endpoint
UPDATE webhook_endpoints
SET enabled = false, disabled_reason = $2, updated_at = clock_timestamp()
WHERE id = $1;

-- name: list_deliveries
-- A webhook's deliveries, newest first, after the keyset position ($3, $4).
SELECT d.id, d.message_id, d.endpoint_id, d.event_type, d.execution_id, d.state, d.attempts,
       d.next_attempt_at, d.created_at
FROM webhook_deliveries d
WHERE d.endpoint_id = $1
  AND EXISTS (SELECT 1 FROM webhook_endpoints w WHERE w.id = $1 AND w.user_id = $2)
  AND ($3::timestamptz IS NULL OR (d.created_at, d.id) < ($3, $4::uuid))
ORDER BY d.created_at DESC, d.id DESC
LIMIT $5;

-- name: attempts_of
SELECT delivery_id, attempt, attempted_at, status_code, latency_ms, error
FROM webhook_attempts WHERE delivery_id = ANY ($1::uuid[])
ORDER BY delivery_id, attempt;

-- name: redeliver
-- A pending one only comes due now: a lease it holds stays, so no second sender takes it
-- while its attempt is in flight.
UPDATE webhook_deliveries d
SET state = 'pending', next_attempt_at = now(),
    leased_until = CASE WHEN d.state = 'pending' THEN d.leased_until END
FROM webhook_endpoints w
WHERE d.id = $1 AND d.endpoint_id = $2 AND w.id = d.endpoint_id AND w.user_id = $3
RETURNING d.id, d.message_id, d.endpoint_id, d.event_type, d.execution_id, d.state,
          d.attempts, d.next_attempt_at, d.created_at;

-- name: purge_deliveries
DELETE FROM webhook_deliveries
WHERE state <> 'pending' AND created_at < now() - make_interval(days => $1);

-- name: pending_deliveries
SELECT count(*) FROM webhook_deliveries WHERE state = 'pending';

-- name: set_task_callback
INSERT INTO task_callbacks (task_id, url) VALUES ($1, $2)
ON CONFLICT (task_id) DO UPDATE SET url = EXCLUDED.url;

-- name: clear_task_callback
DELETE FROM task_callbacks WHERE task_id = $1;

-- name: task_callbacks
SELECT task_id, url FROM task_callbacks WHERE task_id = ANY ($1::uuid[]);

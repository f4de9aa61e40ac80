-- name: insert_user
INSERT INTO users (id, email, name, password_hash)
VALUES ($1, $2, $3, $4)
ON CONFLICT DO NOTHING
RETURNING id, email, name, role, created_at, updated_at;

-- name: user_by_email
SELECT id, email, name, role, password_hash, created_at, updated_at
FROM users WHERE lower(email) = lower($1);

-- name: user_by_id
SELECT id, email, name, role, created_at, updated_at FROM users WHERE id = $1;

-- name: insert_session
INSERT INTO auth_sessions (id, user_id) VALUES ($1, $2);

-- name: insert_refresh_token
INSERT INTO refresh_tokens (id, session_id, expires_at) VALUES ($1, $2, $3);

-- name: lock_refresh_token
SELECT t.id, t.session_id, t.expires_at, t.used_at, s.revoked_at, s.user_id
FROM refresh_tokens t JOIN auth_sessions s ON s.id = t.session_id
WHERE t.id = $1
FOR UPDATE OF t, s;

-- name: mark_refresh_token_used
UPDATE refresh_tokens SET used_at = now() WHERE id = $1;

-- name: revoke_session
UPDATE auth_sessions SET revoked_at = now(), revoke_reason = $2
WHERE id = $1 AND revoked_at IS NULL
RETURNING id;

-- name: session_of_refresh_token
SELECT session_id FROM refresh_tokens WHERE id = $1;

-- name: sessions_revoked_since
-- A revoked API key counts as a revoked session: stream tokens it asked for name it as theirs.
SELECT id, revoked_at FROM auth_sessions WHERE revoked_at >= $1
UNION ALL
SELECT id, revoked_at FROM api_keys WHERE revoked_at >= $1;

-- name: session_revoked
SELECT revoked_at IS NOT NULL FROM auth_sessions WHERE id = $1;

-- name: insert_api_key
INSERT INTO api_keys (id, user_id, name, scopes, secret_hash, prefix, expires_at)
VALUES ($1, $2, $3, $4, $5, $6, $7)
RETURNING id, user_id, name, scopes, prefix, created_at, expires_at, last_used_at;

-- name: api_keys_page
-- Newest first; ($3, $4) is the (created_at, id) of the previous page's last key, or NULLs.
SELECT id, user_id, name, scopes, prefix, created_at, expires_at, last_used_at
FROM api_keys
WHERE user_id = $1 AND revoked_at IS NULL
  AND ($3::timestamptz IS NULL OR (created_at, id) < ($3, $4::uuid))
ORDER BY created_at DESC, id DESC
LIMIT $2;

-- name: revoke_api_key
UPDATE api_keys SET revoked_at = now()
WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL
RETURNING id;

-- name: touch_api_keys
UPDATE api_keys SET last_used_at = greatest(last_used_at, $2)
WHERE id = ANY($1::uuid[]) AND revoked_at IS NULL;

-- name: valid_api_keys
-- $1: one user's keys, or NULL for everyone's.
SELECT k.id, k.user_id, u.email, u.role, k.scopes, k.secret_hash, k.expires_at
FROM api_keys k JOIN users u ON u.id = k.user_id
WHERE k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > now())
  AND ($1::uuid IS NULL OR k.user_id = $1);

-- name: password_hash_of
SELECT password_hash FROM users WHERE id = $1;

-- name: set_password_hash
UPDATE users SET password_hash = $2, updated_at = now() WHERE id = $1;

-- name: revoke_other_sessions
UPDATE auth_sessions SET revoked_at = now(), revoke_reason = 'password changed'
WHERE user_id = $1 AND id <> $2 AND revoked_at IS NULL
RETURNING id, revoked_at;

-- name: set_user_role
UPDATE users SET role = $2, updated_at = now() WHERE lower(email) = lower($1)
RETURNING id;

-- name: revoke_user_sessions
UPDATE auth_sessions SET revoked_at = now(), revoke_reason = $2
WHERE user_id = $1 AND revoked_at IS NULL
RETURNING id, revoked_at;

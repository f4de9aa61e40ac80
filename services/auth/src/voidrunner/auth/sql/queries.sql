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
SELECT id, revoked_at FROM auth_sessions WHERE revoked_at >= $1;

-- name: session_revoked
SELECT revoked_at IS NOT NULL FROM auth_sessions WHERE id = $1;

-- Sharing a task (issue 18): its owner grants a role to an email. Shares name an email, not a
-- user id: the tasks service never asks auth whether an account exists, and a share to an email
-- with no account takes effect when someone registers it (the caller's token carries the email).
-- Emails are stored lower-cased with PostgreSQL's lower(), the function auth matches them with.
CREATE TABLE task_shares (
    task_id    uuid NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    email      text NOT NULL CHECK (length(email) BETWEEN 3 AND 255 AND email = lower(email)),
    role       text NOT NULL CHECK (role IN ('viewer', 'runner')),
    created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (task_id, email)
);
-- "Shared with me" lists and every access check of a non-owner look shares up by email.
CREATE INDEX task_shares_email_idx ON task_shares (email, task_id);

-- Who started an execution: the owner, or a user the task is shared with as a runner. Earlier
-- executions were all started by their owner.
ALTER TABLE executions ADD COLUMN started_by uuid;
UPDATE executions SET started_by = user_id;
ALTER TABLE executions ALTER COLUMN started_by SET NOT NULL;
-- A user's execution list adds what they started on others' tasks: few rows, so a partial index.
CREATE INDEX executions_started_by_idx ON executions (started_by, created_at, id)
    WHERE started_by <> user_id;
-- An Idempotency-Key is one client's retry token: the same key from two users of a shared task
-- names two starts.
DROP INDEX executions_idempotency_key;
CREATE UNIQUE INDEX executions_idempotency_key ON executions (task_id, started_by, idempotency_key)
    WHERE idempotency_key IS NOT NULL;

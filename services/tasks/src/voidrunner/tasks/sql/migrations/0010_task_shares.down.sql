DROP INDEX executions_idempotency_key;
-- Keys two users of a shared task both used cannot stay unique per task: the later ones go.
UPDATE executions e SET idempotency_key = NULL
WHERE idempotency_key IS NOT NULL AND EXISTS (
    SELECT 1 FROM executions o
    WHERE o.task_id = e.task_id AND o.idempotency_key = e.idempotency_key
      AND (o.created_at, o.id) < (e.created_at, e.id));
CREATE UNIQUE INDEX executions_idempotency_key ON executions (task_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
DROP INDEX executions_started_by_idx;
ALTER TABLE executions DROP COLUMN started_by;
DROP TABLE task_shares;

DROP INDEX executions_user_created_idx;
DELETE FROM executions WHERE task_id IS NULL;
ALTER TABLE executions
    DROP COLUMN cases,
    DROP COLUMN total,
    DROP COLUMN passed,
    DROP COLUMN verdict,
    DROP COLUMN inputs,
    DROP COLUMN limits,
    DROP COLUMN version,
    DROP COLUMN script_type,
    ALTER COLUMN task_id SET NOT NULL;
UPDATE tasks SET script_content = ' ' WHERE script_content IS NULL OR script_content = '';
ALTER TABLE tasks
    DROP CONSTRAINT tasks_script_content_check,
    ADD CONSTRAINT tasks_script_content_check CHECK (length(script_content) BETWEEN 1 AND 65535),
    ALTER COLUMN script_content SET NOT NULL,
    DROP COLUMN inputs,
    DROP COLUMN version;

ALTER TABLE executions DROP COLUMN callback_url;
DROP TABLE task_callbacks;
DROP TABLE webhook_attempts;
DROP TABLE webhook_deliveries;
DROP TABLE webhook_endpoints;
DROP TABLE webhook_secrets;

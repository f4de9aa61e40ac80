DROP TABLE execution_outbox;
DROP TABLE executions;
DROP TABLE tasks;

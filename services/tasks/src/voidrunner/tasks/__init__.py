"""The tasks service: tasks, executions, and the outbox that feeds the scheduler."""

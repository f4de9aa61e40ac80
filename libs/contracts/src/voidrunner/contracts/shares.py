"""What a task's owner grants when sharing it: the public API's role names, used at every hop."""

from __future__ import annotations

import enum


class ShareRole(enum.StrEnum):
    """`viewer` reads the task, its executions and their logs; `runner` also starts and
    cancels executions. Only the owner edits, deletes or shares a task."""

    VIEWER = "viewer"
    RUNNER = "runner"

    @property
    def may_run(self) -> bool:
        """Whether this role starts and cancels executions."""
        return self is ShareRole.RUNNER


# The most users one task is shared with (each share is a row the owner lists whole).
MAX_SHARES_PER_TASK = 100

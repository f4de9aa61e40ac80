"""The tasks service's errors, with the public contract's exact texts.

InvalidArgument
├── FieldErrors            named fields broke rules; carries FieldViolation items
├── InvalidCursor          "Invalid cursor"
FailedPrecondition
├── TaskRunning            "Cannot update running task" / "Cannot delete running task"
├── AlreadyRunning         "Task is already running"
├── InvalidTransition      a final execution never changes
├── ClaimRefused           an executor's report under a claim that is not the attempt's current one
└── TooManyShares          a task is shared with at most MAX_SHARES_PER_TASK emails
NotFound
├── TaskNotFound           "Task not found" (also another user's task: no existence oracle)
├── ExecutionNotFound      "Execution not found"
└── ShareNotFound          "Share not found"
PermissionDenied
└── AccessDenied           "Access denied" (also a task shared with the caller but not theirs to
                           change, or to run when they only view it)
"""

from __future__ import annotations

from dataclasses import dataclass

from voidrunner.common.errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied


@dataclass(frozen=True, slots=True)
class Violation:
    """One broken field rule, named by the public JSON field."""

    field: str
    tag: str
    message: str
    value: str = ""


class FieldErrors(InvalidArgument):
    """Request fields broke rules; the servicer attaches them as structured details."""

    def __init__(self, violations: list[Violation]) -> None:
        super().__init__("Validation failed")
        self.violations = violations


class InvalidCursor(InvalidArgument):
    def __init__(self) -> None:
        super().__init__("Invalid cursor")


class TaskNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("Task not found")


class ExecutionNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("Execution not found")


class TaskRunning(FailedPrecondition):
    """The task has an active execution, so it may be neither edited nor deleted."""


class AlreadyRunning(FailedPrecondition):
    def __init__(self) -> None:
        super().__init__("Task is already running")


class InvalidTransition(FailedPrecondition):
    """An execution state change the state machine forbids."""


class AccessDenied(PermissionDenied):
    def __init__(self) -> None:
        super().__init__("Access denied")


class ClaimRefused(FailedPrecondition):
    """An executor reported under a claim that is not the execution's current one: a stale
    executor whose attempt was taken over, or another executor's forgery."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"claim refused: {reason}")
        self.reason = reason


class ShareNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("Share not found")


class TooManyShares(FailedPrecondition):
    def __init__(self, most: int) -> None:
        super().__init__(f"A task can be shared with at most {most} users")

"""The execution state machine, in one place.

    pending ──► running ──► completed | failed | timeout | cancelled
       │                          ▲
       └──────────────────────────┘  (cancelled, or a failure before it ran: failed | timeout)

A final state never changes. `running → running` is allowed as an idempotent progress update
(a redelivered "started" event); every other self-transition is refused. The task's own status
follows its latest execution: `running` while that execution is active, then its final status.
"""

from __future__ import annotations

from collections.abc import Mapping

from voidrunner.contracts.execution import (
    ACTIVE,
    DEFAULT_REASON,
    FINAL,
    Status,
    TerminationReason,
)
from voidrunner.tasks.errors import InvalidTransition

__all__ = [
    "ACTIVE",
    "DEFAULT_REASON",
    "FINAL",
    "TRANSITIONS",
    "Status",
    "TerminationReason",
    "can_transition",
    "check_cancel",
    "check_transition",
    "task_status_after",
]

TRANSITIONS: Mapping[Status, frozenset[Status]] = {
    Status.PENDING: frozenset({Status.RUNNING, Status.CANCELLED, Status.FAILED, Status.TIMEOUT}),
    Status.RUNNING: frozenset(
        {Status.RUNNING, Status.COMPLETED, Status.FAILED, Status.TIMEOUT, Status.CANCELLED}
    ),
    **{s: frozenset() for s in FINAL},
}


def can_transition(current: Status, target: Status) -> bool:
    """True when an execution in `current` may move to `target`."""
    return target in TRANSITIONS[current]


def check_transition(current: Status, target: Status) -> None:
    """Raise InvalidTransition (409 at the edge) unless `current → target` is allowed."""
    if current in FINAL:
        msg = f"cannot update execution with status: {current.value}"
        raise InvalidTransition(msg)
    if not can_transition(current, target):
        msg = f"invalid status transition: {current.value} -> {target.value}"
        raise InvalidTransition(msg)


def check_cancel(current: Status) -> None:
    """Raise the contract's 409 text when an execution can no longer be cancelled."""
    if current in FINAL:
        msg = f"cannot cancel execution with status: {current.value}"
        raise InvalidTransition(msg)


def task_status_after(execution_status: Status) -> Status:
    """The status a task takes from its latest execution's status."""
    return Status.RUNNING if execution_status in ACTIVE else execution_status

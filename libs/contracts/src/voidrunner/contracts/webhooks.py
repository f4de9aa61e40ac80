"""Webhook event types: the names a user subscribes to and receivers see as `type`.

One event per execution status change a user can act on: it started, or it ended (one of the
four final statuses). `pending` has no event: a start answers the caller directly.
"""

from __future__ import annotations

import enum

from voidrunner.contracts.execution import Status


class EventType(enum.StrEnum):
    """What happened to an execution."""

    STARTED = "execution.started"
    COMPLETED = "execution.completed"
    FAILED = "execution.failed"
    TIMEOUT = "execution.timeout"
    CANCELLED = "execution.cancelled"


ALL_EVENTS: tuple[EventType, ...] = tuple(EventType)

_BY_STATUS: dict[Status, EventType] = {
    Status.RUNNING: EventType.STARTED,
    Status.COMPLETED: EventType.COMPLETED,
    Status.FAILED: EventType.FAILED,
    Status.TIMEOUT: EventType.TIMEOUT,
    Status.CANCELLED: EventType.CANCELLED,
}


def event_for(status: Status) -> EventType | None:
    """The event an execution entering `status` raises; None for `pending`."""
    return _BY_STATUS.get(status)

"""Pages, polls and reconnects: the shapes and timings both clients follow."""

from __future__ import annotations

from typing import Protocol

from voidrunner.client._models import Pagination


class Paged(Protocol):
    """A cursor page."""

    @property
    def pagination(self) -> Pagination: ...


def wait_delay(polls: int) -> float:
    """Seconds between polls of an execution that is not final yet (0.2 s growing to 2 s)."""
    return float(min(2.0, 0.2 * 1.5 ** min(polls, 10)))


def reconnect_delay(failures: int) -> float:
    """Seconds before reconnecting a broken log stream (0.25 s doubling to 4 s)."""
    return min(4.0, 0.25 * 2.0 ** (failures - 1))

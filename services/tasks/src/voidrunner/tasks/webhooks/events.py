"""Turning an execution's status change into queued webhook deliveries.

`WebhookEvents.changed` runs inside the transaction that changes the status, so the deliveries
exist exactly when the change committed. The payload is small (ids, status, times, the verdict;
never output): a receiver that wants more fetches the execution with its own credentials.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

from voidrunner.common.db import Conn
from voidrunner.contracts.execution import Status
from voidrunner.contracts.webhooks import event_for
from voidrunner.tasks.repository import ExecutionRecord
from voidrunner.tasks.webhooks.signing import new_message_id
from voidrunner.tasks.webhooks.store import WebhookStore


def _stamp(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def payload(event_type: str, e: ExecutionRecord, now: dt.datetime) -> str:
    """The JSON body of one event (Standard Webhooks shape: type, timestamp, data)."""
    data: dict[str, Any] = {
        "execution_id": str(e.id),
        "task_id": None if e.task_id is None else str(e.task_id),
        "status": e.status,
        "termination_reason": e.termination_reason,
        "return_code": e.return_code,
        "verdict": e.verdict,
        "passed": e.passed if e.total else None,
        "total": e.total or None,
        "script_type": e.script_type,
        "execution_time_ms": e.execution_time_ms,
        "created_at": _stamp(e.created_at),
        "started_at": _stamp(e.started_at),
        "completed_at": _stamp(e.completed_at),
    }
    doc = {
        "type": event_type,
        "timestamp": _stamp(now),
        # Null fields are left out, as in the REST API.
        "data": {k: v for k, v in data.items() if v is not None},
    }
    return json.dumps(doc, separators=(",", ":"))


class WebhookEvents:
    """Queues the deliveries a status change owes; `wake` nudges the local sender."""

    def __init__(
        self,
        store: WebhookStore,
        *,
        clock: Callable[[], dt.datetime],
        wake: Callable[[], None] | None = None,
    ) -> None:
        self._store = store
        self._clock = clock
        self._wake = wake

    async def changed(self, conn: Conn, execution: ExecutionRecord) -> bool:
        """Queue the event of `execution`'s new status (in the caller's transaction).

        Returns True when something was queued; call `committed()` after the commit then."""
        event = event_for(Status(execution.status))
        if event is None or execution.webhook_subscribed is False:
            return False
        queued = await self._store.enqueue(
            conn,
            user_id=execution.user_id,
            event_type=event.value,
            execution_id=execution.id,
            body=payload(event.value, execution, self._clock()),
            message_id=new_message_id(),
        )
        return queued > 0

    def committed(self) -> None:
        """Tell the local sender that deliveries are due (others find them by polling)."""
        if self._wake is not None:
            self._wake()

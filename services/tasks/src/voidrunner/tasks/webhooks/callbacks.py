"""`callback_url` on tasks and one-shot runs: vetted like an endpoint's URL, stored beside the
task (task_callbacks) or on the run's execution, signed with the owner's secret.

The first use creates the owner's signing secret, and the answer to that save carries it once.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import replace

from voidrunner.common.db import Conn
from voidrunner.tasks.repository import TaskRecord
from voidrunner.tasks.validation import TaskPatch
from voidrunner.tasks.webhooks.endpoints import WebhookService
from voidrunner.tasks.webhooks.store import WebhookStore

FIELD = "callback_url"


class Callbacks:
    """What tasks and runs do with their callback URLs."""

    def __init__(self, store: WebhookStore, webhooks: WebhookService) -> None:
        self._store = store
        self._webhooks = webhooks

    async def vet(self, patch: TaskPatch, field: str = FIELD) -> None:
        """FieldErrors when the patch sets a URL webhooks may not go to (DNS included)."""
        if patch.callback_url is not None and not patch.clear_callback_url:
            await self._webhooks.vet_url(patch.callback_url, field)

    async def secret_for(self, conn: Conn, user_id: uuid.UUID) -> str | None:
        """The owner's new secret if this first use created it, else None."""
        return await self._webhooks.ensure_secret(conn, user_id)

    async def saved(self, conn: Conn, task: TaskRecord, patch: TaskPatch) -> TaskRecord:
        """Store what the patch says about the task's callback URL (in the save's transaction)."""
        if patch.clear_callback_url:
            await self._store.set_task_callback(conn, task.id, None)
            return replace(task, callback_url=None)
        if patch.callback_url is None:
            return (await self.attach(conn, [task]))[0]
        await self._store.set_task_callback(conn, task.id, patch.callback_url)
        secret = await self.secret_for(conn, task.user_id)
        return replace(task, callback_url=patch.callback_url, webhook_secret=secret)

    async def attach(self, conn: Conn, tasks: Sequence[TaskRecord]) -> list[TaskRecord]:
        """The tasks with their callback URLs filled in (one query for them all)."""
        found = await self._store.task_callbacks(conn, [t.id for t in tasks])
        return [replace(t, callback_url=found.get(t.id)) for t in tasks]

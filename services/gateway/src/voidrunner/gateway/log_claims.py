"""Which live log chunks a viewer is shown: those of the claim holding their attempt.

Executors share the log stream, so a chunk on an execution's subject proves nothing by itself;
each carries its attempt's claim tag (voidrunner.contracts.claims), and the tasks service knows
the tag of the execution's current claim. A chunk whose attempt's tag is not known yet (its
"started" event may still be on its way to the recorder) waits briefly while the execution is
read again; a chunk under another tag is dropped and logged.
"""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Awaitable, Callable

from voidrunner.common.logs import get_logger
from voidrunner.contracts.execution import FINAL
from voidrunner.proto.jobs.v1 import jobs_pb2
from voidrunner.proto.tasks.v1 import tasks_pb2

# Reads the execution afresh (the viewer's own, through the tasks service).
GetExecution = Callable[[], Awaitable[tasks_pb2.Execution]]
_log = get_logger("voidrunner.gateway.logs")
_FINAL = frozenset(s.value for s in FINAL)
# How long a chunk of an attempt whose claim is not recorded yet may wait for it.
LEARN_SECONDS = 2.0
LEARN_POLL_SECONDS = 0.05
# Attempts one viewer may wait to learn; beyond, unknown attempts are dropped at once (a client
# flooding made-up attempt numbers must not stall the stream).
MOST_UNKNOWN_ATTEMPTS = 4


class ClaimFilter:
    """Accepts the chunks of the claims the tasks service recorded for this execution."""

    def __init__(self, execution: tasks_pb2.Execution, get: GetExecution) -> None:
        self._get = get
        self._tags: dict[int, str] = {}
        self._unknown: set[int] = set()
        self._learn_from(execution)

    def _learn_from(self, execution: tasks_pb2.Execution) -> None:
        if execution.claim_tag:
            self._tags[execution.attempt] = execution.claim_tag

    async def accepts(self, chunk: jobs_pb2.LogChunk) -> bool:
        """Whether `chunk` comes from the holder of its attempt's claim."""
        tag = self._tags.get(chunk.attempt)
        if tag is None and chunk.attempt not in self._unknown:
            tag = await self._learn(chunk.attempt)
        if tag is not None and hmac.compare_digest(tag, chunk.claim_tag):
            return True
        _log.warning(
            "log chunk dropped: not from its attempt's claim",
            execution_id=chunk.execution_id,
            attempt=chunk.attempt,
        )
        return False

    async def _learn(self, attempt: int) -> str | None:
        if len(self._unknown) >= MOST_UNKNOWN_ATTEMPTS:
            return None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + LEARN_SECONDS
        while True:
            execution = await self._get()
            self._learn_from(execution)
            if attempt in self._tags:
                return self._tags[attempt]
            passed = execution.attempt > attempt or execution.status in _FINAL
            if passed or loop.time() >= deadline:
                self._unknown.add(attempt)
                return None
            await asyncio.sleep(LEARN_POLL_SECONDS)

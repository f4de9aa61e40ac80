"""Following executions as they happen: final-state notifications and live log chunks (NATS)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from nats.aio.client import Client as NATS
from nats.aio.subscription import Subscription
from nats.js.api import DeliverPolicy

from voidrunner.contracts.topology import FINAL_SUBJECT_PREFIX, LOGS_STREAM, log_subject
from voidrunner.proto.jobs.v1 import jobs_pb2
from voidrunner.proto.tasks.v1 import tasks_pb2

FINAL_STATUSES = frozenset({"completed", "failed", "timeout", "cancelled"})
# While streaming, re-read the execution this often in case a final notice was missed.
RECHECK_SECONDS = 5.0
# How long one wait for a chunk lasts before looking at the final notice again.
WAKE_SECONDS = 0.5
# The longest a finished execution's viewer waits for chunks still in flight.
DRAIN_SECONDS = 5.0
_STREAM_NAMES = {jobs_pb2.STREAM_STDOUT: "stdout", jobs_pb2.STREAM_STDERR: "stderr"}

GetExecution = Callable[[], Awaitable[tasks_pb2.Execution]]


class FinalNotices:
    """One subscription to every execution's final notice, shared by this process's waiters.

    A waiter watches an id; a notice wakes every watcher of its id. Ids noticed recently are
    remembered, so a watch opened just after its execution finished sees that at once: no
    per-request subscription, and no re-read of the execution to close that race.
    """

    def __init__(
        self,
        nc: NATS,
        *,
        remember_seconds: float = 60.0,
        remember_most: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._nc = nc
        self._remember_seconds = remember_seconds
        self._remember_most = remember_most
        self._clock = clock
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._watchers: dict[str, set[asyncio.Event]] = {}
        self._sub: Subscription | None = None

    async def start(self) -> None:
        """Subscribe (nats-py renews the subscription after a reconnect)."""
        self._sub = await self._nc.subscribe(f"{FINAL_SUBJECT_PREFIX}.*", cb=self._on_notice)

    async def stop(self) -> None:
        """Unsubscribe; watchers still waiting wait out their time."""
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()
            self._sub = None

    async def _on_notice(self, msg: Any) -> None:
        execution_id = msg.subject[len(FINAL_SUBJECT_PREFIX) + 1 :]
        now = self._clock()
        self._seen[execution_id] = now
        self._seen.move_to_end(execution_id)
        while self._seen and (
            len(self._seen) > self._remember_most
            or next(iter(self._seen.values())) < now - self._remember_seconds
        ):
            self._seen.popitem(last=False)
        for event in self._watchers.get(execution_id, ()):
            event.set()

    def watch(self, execution_id: str) -> FinalNotice:
        """A notice for `execution_id`; use it as a context manager around the wait."""
        return FinalNotice(self, execution_id)

    def _add(self, execution_id: str, event: asyncio.Event) -> None:
        self._watchers.setdefault(execution_id, set()).add(event)
        if execution_id in self._seen:
            event.set()

    def _remove(self, execution_id: str, event: asyncio.Event) -> None:
        watchers = self._watchers.get(execution_id)
        if watchers is not None:
            watchers.discard(event)
            if not watchers:
                del self._watchers[execution_id]


class FinalNotice:
    """One waiter's view of an execution's final notice, while inside its `with` block."""

    def __init__(self, notices: FinalNotices, execution_id: str) -> None:
        self._notices = notices
        self._execution_id = execution_id
        self._event = asyncio.Event()

    def __enter__(self) -> FinalNotice:
        self._notices._add(self._execution_id, self._event)
        return self

    def __exit__(self, *_exc: object) -> None:
        self._notices._remove(self._execution_id, self._event)

    def arrived(self) -> bool:
        """True once the notice came."""
        return self._event.is_set()

    async def wait(self, seconds: float) -> bool:
        """True when the notice arrived within `seconds`."""
        try:
            await asyncio.wait_for(self._event.wait(), seconds)
        except TimeoutError:
            return False
        return True


async def wait_for_final(
    finals: FinalNotices, execution: tasks_pb2.Execution, get: GetExecution, seconds: float
) -> tasks_pb2.Execution:
    """The execution once final, or as it is after `seconds` — one notice, no polling loop."""
    if execution.status in FINAL_STATUSES or seconds <= 0:
        return execution
    with finals.watch(execution.id) as notice:
        await notice.wait(seconds)
    return await get()


def _event(name: str, data: dict[str, Any], event_id: str | None = None) -> dict[str, str]:
    event = {"event": name, "data": json.dumps(data, ensure_ascii=False)}
    if event_id is not None:
        event["id"] = event_id
    return event


def end_event(execution: tasks_pb2.Execution) -> dict[str, str]:
    """The last event of a log stream: the final status and how the run ended."""
    data: dict[str, Any] = {"status": execution.status}
    if execution.HasField("return_code"):
        data["exit_code"] = execution.return_code
    if execution.HasField("termination_reason"):
        data["termination_reason"] = execution.termination_reason
    return _event("end", data)


def stored_events(execution: tasks_pb2.Execution) -> list[dict[str, str]]:
    """A finished execution's stored output as log events, then the end event."""
    events = []
    for name in ("stdout", "stderr"):
        if execution.HasField(name) and getattr(execution, name):
            events.append(_event(name, {"stream": name, "text": getattr(execution, name)}))
    return [*events, end_event(execution)]


async def log_events(
    nc: NATS, finals: FinalNotices, execution: tasks_pb2.Execution, get: GetExecution
) -> AsyncIterator[dict[str, str]]:
    """Server-sent events for one execution: what was produced so far, live chunks, the end."""
    if execution.status in FINAL_STATUSES:
        for event in stored_events(execution):
            yield event
        return
    # Chunks are pushed into our own queue: cancelling a wait on an asyncio.Queue never loses
    # an item, unlike cancelling nats-py's next_msg (whose wait_for can drop a delivered one).
    chunks: asyncio.Queue[bytes] = asyncio.Queue()

    async def on_chunk(msg: Any) -> None:
        chunks.put_nowait(msg.data)

    with finals.watch(execution.id) as notice:
        logs = await nc.jetstream().subscribe(
            log_subject(execution.id),
            cb=on_chunk,
            ordered_consumer=True,
            deliver_policy=DeliverPolicy.ALL,
        )
        try:
            idle = 0.0
            delivered = 0
            while True:
                data = await _next_or_final(chunks, notice)
                if data is not None:
                    idle = 0.0
                    delivered += 1
                    yield _chunk_event(data)
                    continue
                idle += WAKE_SECONDS
                finished = notice.arrived()
                if not finished and idle >= RECHECK_SECONDS:
                    idle = 0.0
                    finished = (await get()).status in FINAL_STATUSES
                if finished:
                    # Every chunk was stored before the result was recorded: wait until all of
                    # them reached this viewer (a busy machine delays the push), then end.
                    stored = await _stored_chunks(nc, execution.id)
                    deadline = asyncio.get_running_loop().time() + DRAIN_SECONDS
                    while delivered < stored and asyncio.get_running_loop().time() < deadline:
                        try:
                            data = await asyncio.wait_for(chunks.get(), DRAIN_SECONDS)
                        except TimeoutError:
                            break
                        delivered += 1
                        yield _chunk_event(data)
                    yield end_event(await get())
                    return
        finally:
            with contextlib.suppress(Exception):
                await logs.unsubscribe()


async def _stored_chunks(nc: NATS, execution_id: str) -> int:
    """How many log chunks of the execution the stream holds."""
    subject = log_subject(execution_id)
    try:
        info = await nc.jetstream().stream_info(LOGS_STREAM, subjects_filter=subject)
    except Exception:  # cannot tell: end with what arrived
        return 0
    return int((info.state.subjects or {}).get(subject, 0))


async def _next_or_final(chunks: asyncio.Queue[bytes], notice: FinalNotice) -> bytes | None:
    """The next chunk; None after WAKE_SECONDS or once the final notice has come."""
    if not chunks.empty():
        return chunks.get_nowait()
    if notice.arrived():
        return None
    fetch = asyncio.ensure_future(chunks.get())
    final = asyncio.ensure_future(notice.wait(WAKE_SECONDS))
    try:
        await asyncio.wait(
            {fetch, final}, timeout=WAKE_SECONDS, return_when=asyncio.FIRST_COMPLETED
        )
    finally:
        final.cancel()
        fetch.cancel()  # a no-op when it already has its item
    if fetch.done() and not fetch.cancelled():
        return fetch.result()
    return None


def _chunk_event(data: bytes) -> dict[str, str]:
    chunk = jobs_pb2.LogChunk.FromString(data)
    stream = _STREAM_NAMES.get(chunk.stream, "stdout")
    return _event(
        stream,
        {
            "stream": stream,
            "seq": chunk.seq,
            "attempt": chunk.attempt,
            "text": chunk.data.decode("utf-8", "replace"),
        },
        event_id=f"{chunk.attempt}:{chunk.seq}",
    )

"""Following executions as they happen: final-state notifications and live log chunks (NATS)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf.message import DecodeError
from nats.aio.client import Client as NATS
from nats.aio.subscription import Subscription
from nats.js.api import DeliverPolicy

from voidrunner.common.tracing import TRACING_OFF, SpanKind, Tracing
from voidrunner.contracts.execution import FINAL, StreamName
from voidrunner.contracts.output import LogEntry, base64_text, replay_layout, text_form
from voidrunner.contracts.topology import FINAL_SUBJECT_PREFIX, LOGS_STREAM, log_subject
from voidrunner.gateway.log_claims import ClaimFilter, GetExecution
from voidrunner.proto.jobs.v1 import jobs_pb2
from voidrunner.proto.tasks.v1 import tasks_pb2

FINAL_STATUSES = frozenset(s.value for s in FINAL)
# While streaming, re-read the execution this often in case a final notice was missed.
RECHECK_SECONDS = 5.0
# How long one wait for a chunk lasts before looking at the final notice again.
WAKE_SECONDS = 0.5
# The longest a cancelled execution's viewer waits for the run's output to be stored.
DRAIN_SECONDS = 5.0
# How often the stream of a user the task is shared with (not its owner) checks that they may
# still read it, and how long it goes on without an answer: a revoked share, or a check that
# cannot be made, ends the stream within a second.
ACCESS_SECONDS = 0.4
ACCESS_GRACE_SECONDS = 1.0
_ACCESS_GONE = frozenset({grpc.StatusCode.NOT_FOUND, grpc.StatusCode.PERMISSION_DENIED})
_STREAM_NAMES = {
    jobs_pb2.STREAM_STDOUT: StreamName.STDOUT,
    jobs_pb2.STREAM_STDERR: StreamName.STDERR,
}


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
        tracing: Tracing = TRACING_OFF,
    ) -> None:
        self._nc = nc
        self._tracing = tracing
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
        # The last hop of an execution's trace: the notice that answers its waiters (every
        # gateway hears every notice; only the one with a waiter adds it to the trace).
        tracing = self._tracing if execution_id in self._watchers else TRACING_OFF
        with tracing.span(
            "final notice",
            headers=msg.headers,
            kind=SpanKind.CONSUMER,
            attributes={"voidrunner.execution_id": execution_id[:64]},
        ):
            self._notice(execution_id)

    def _notice(self, execution_id: str) -> None:
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


@dataclass(frozen=True, slots=True)
class Position:
    """Where a viewer's stream stood: the last event id it saw ("<attempt>:<seq>")."""

    attempt: int
    seq: int

    @classmethod
    def parse(cls, value: str | None) -> Position | None:
        """The position a Last-Event-ID names; None for a missing or malformed one."""
        attempt, _, seq = (value or "").partition(":")
        if not (attempt.isdigit() and seq.isdigit()) or len(value or "") > 32:
            return None
        return cls(int(attempt), int(seq))

    def covers(self, attempt: int, seq: int) -> bool:
        """True when the viewer already has chunk `seq` of `attempt` (or moved past it)."""
        return attempt < self.attempt or (attempt == self.attempt and seq <= self.seq)


def _event(name: str, data: dict[str, Any], event_id: str) -> dict[str, str]:
    return {"event": name, "data": json.dumps(data, ensure_ascii=False), "id": event_id}


def chunk_event(
    attempt: int, seq: int, stream: StreamName, data: bytes, case: int = 0
) -> dict[str, str]:
    """One output chunk: its text, and its exact bytes in base64 when the text is not them."""
    text, exact = text_form(data)
    payload: dict[str, Any] = {"stream": stream.value, "seq": seq, "attempt": attempt, "text": text}
    if case:
        payload["case"] = case
    if not exact:
        payload["base64"] = base64_text(data)
    return _event(stream.value, payload, f"{attempt}:{seq}")


def mark_event(attempt: int, seq: int, mark: jobs_pb2.CaseMark) -> dict[str, str]:
    """A test case's start (its name) or end (its verdict and figures; a hidden case's only
    those)."""
    payload: dict[str, Any] = {"case": mark.case_index, "seq": seq, "attempt": attempt}
    if not mark.end:
        payload["name"] = mark.name
        return _event("case_start", payload, f"{attempt}:{seq}")
    result = mark.result
    payload.update(
        verdict=result.verdict,
        execution_time_ms=result.execution_time_ms,
        cpu_time_ms=result.cpu_time_ms,
        memory_usage_bytes=result.memory_usage_bytes,
    )
    if not result.hidden:
        payload["termination_reason"] = result.termination_reason
        if result.HasField("return_code"):
            payload["return_code"] = result.return_code
        if result.exit_signal:
            payload["exit_signal"] = result.exit_signal
    return _event("case_end", payload, f"{attempt}:{seq}")


def end_event(execution: tasks_pb2.Execution, seq: int) -> dict[str, str]:
    """The last event of a log stream: the final status and how the run ended (REST names)."""
    data: dict[str, Any] = {"status": execution.status, "attempt": execution.attempt, "seq": seq}
    for name in ("return_code", "exit_signal", "termination_reason", "verdict"):
        if execution.HasField(name):
            data[name] = getattr(execution, name)
    if execution.total:
        data.update(passed=execution.passed, total=execution.total)
    return _event("end", data, f"{execution.attempt}:{seq}")


def stored_entries(execution: tasks_pb2.Execution) -> list[LogEntry]:
    """The stored output as the events the live log had (each stream whole if the layout is
    lost: a replay is then one chunk per stream and case)."""
    streams = {0: (execution.stdout, execution.stderr)}
    streams.update({c.index: (c.stdout, c.stderr) for c in execution.cases.outputs})
    marks = list(execution.cases.marks)
    entries = replay_layout(list(execution.output_spans), marks, streams)
    if entries is not None:
        return entries
    whole: list[LogEntry] = []

    def add_streams(index: int) -> None:
        stdout, stderr = streams.get(index, (b"", b""))
        for stream, data in ((StreamName.STDOUT, stdout), (StreamName.STDERR, stderr)):
            if data:
                whole.append(LogEntry(len(whole) + 1, index, stream, data))

    if not marks:
        add_streams(0)
    for mark in marks:
        if mark.end:  # a case's output, whole, before its end
            add_streams(mark.case_index)
        whole.append(LogEntry(len(whole) + 1, mark.case_index, mark=mark))
    return whole


def entry_event(attempt: int, entry: LogEntry) -> dict[str, str]:
    """The SSE event of one log entry."""
    if entry.mark is not None:
        return mark_event(attempt, entry.seq, entry.mark)
    assert entry.stream is not None
    return chunk_event(attempt, entry.seq, entry.stream, entry.data, entry.case_index)


def stored_events(
    execution: tasks_pb2.Execution, after: Position | None = None, sent: int = 0
) -> list[dict[str, str]]:
    """A finished execution's stored output as log events (those past `after` and `sent`, the
    last seq of its attempt already delivered), then the end event."""
    entries = stored_entries(execution)
    attempt = execution.attempt
    events = [
        entry_event(attempt, entry)
        for entry in entries
        if entry.seq > sent and not (after is not None and after.covers(attempt, entry.seq))
    ]
    return [*events, end_event(execution, len(entries) + 1)]


async def log_events(
    nc: NATS,
    finals: FinalNotices,
    execution: tasks_pb2.Execution,
    get: GetExecution,
    after: Position | None = None,
    *,
    recheck_access: bool = False,
) -> AsyncIterator[dict[str, str]]:
    """Server-sent events for one execution: what was produced so far, live chunks, the end.

    With `recheck_access` (a viewer who is not the owner), access is checked again every
    ACCESS_SECONDS while the run is live; once it is lost the stream ends with an `error` event.

    Event ids are "<attempt>:<seq>", the same whether an event is live or replayed, so a
    viewer that reconnects with Last-Event-ID (`after`) gets neither duplicates nor gaps. A
    finished execution replays its stored output; a live one streams VR_LOGS and, once final,
    completes the final attempt's chunks from the stored output (a chunk lost on the way is not
    lost to the viewer).
    """
    if execution.status in FINAL_STATUSES and not execution.output_pending:
        for event in stored_events(execution, after):
            yield event
        return
    # Chunks are pushed into our own queue: cancelling a wait on an asyncio.Queue never loses
    # an item, unlike cancelling nats-py's next_msg (whose wait_for can drop a delivered one).
    chunks: asyncio.Queue[bytes] = asyncio.Queue()

    async def on_chunk(msg: Any) -> None:
        chunks.put_nowait(msg.data)

    # attempt → the last seq this viewer has of it
    sent: dict[int, int] = {}
    claims = ClaimFilter(execution, get)
    lost = AccessLoss(get if recheck_access else None)
    with finals.watch(execution.id) as notice:
        logs = await nc.jetstream().subscribe(
            log_subject(execution.id),
            stream=LOGS_STREAM,  # named: looking it up by subject is not the gateway's right
            cb=on_chunk,
            ordered_consumer=True,
            deliver_policy=DeliverPolicy.ALL,
        )
        lost.start()
        try:
            idle = 0.0
            while True:
                data = await _next_or_final(chunks, notice, lost.event)
                if lost.event.is_set():
                    # No id: a reconnecting client still resumes after its last chunk.
                    yield {"event": "error", "data": json.dumps({"error": lost.reason})}
                    return
                if data is not None:
                    idle = 0.0
                    chunk = _chunk(data)
                    if chunk is None or not await claims.accepts(chunk):
                        continue
                    live = _live_event(chunk, after, sent)
                    if live is not None:
                        yield live
                    continue
                idle += WAKE_SECONDS
                finished = notice.arrived()
                if not finished and idle >= RECHECK_SECONDS:
                    idle = 0.0
                    finished = (await get()).status in FINAL_STATUSES
                if finished:
                    final = await _with_output(get)
                    if final.output_pending:  # the executor never reported: what arrived is all
                        yield end_event(final, max(sent.get(final.attempt, 0), 0) + 1)
                        return
                    for event in stored_events(final, after, sent.get(final.attempt, 0)):
                        yield event
                    return
        finally:
            lost.stop()
            with contextlib.suppress(Exception):
                await logs.unsubscribe()


def _chunk(data: bytes) -> jobs_pb2.LogChunk | None:
    """A live log message, or None for a malformed one."""
    try:
        return jobs_pb2.LogChunk.FromString(data)
    except DecodeError:
        return None


def _live_event(
    chunk: jobs_pb2.LogChunk, after: Position | None, sent: dict[int, int]
) -> dict[str, str] | None:
    """The event of a live chunk, or None for one the viewer has."""
    stream = _STREAM_NAMES.get(chunk.stream)
    marked = chunk.HasField("mark")
    if (stream is None and not marked) or chunk.seq <= sent.get(chunk.attempt, 0):
        return None
    if after is not None and after.covers(chunk.attempt, chunk.seq):
        return None
    sent[chunk.attempt] = chunk.seq
    if marked:
        return mark_event(chunk.attempt, chunk.seq, chunk.mark)
    assert stream is not None
    return chunk_event(chunk.attempt, chunk.seq, stream, chunk.data, chunk.case_index)


async def _with_output(get: GetExecution) -> tasks_pb2.Execution:
    """The final execution, once a cancelled run's output has been stored (or waited for)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DRAIN_SECONDS
    execution = await get()
    while execution.output_pending and loop.time() < deadline:
        await asyncio.sleep(0.2)
        execution = await get()
    return execution


class AccessLoss:
    """Set once a shared viewer may no longer read the execution (or it cannot be checked);
    never set without `get` (an owner's stream)."""

    def __init__(self, get: GetExecution | None) -> None:
        self.event = asyncio.Event()
        self.reason = "Execution not found"
        self._get = get
        self._watcher: asyncio.Future[None] | None = None

    def start(self) -> None:
        """Start checking in the background (with `get`)."""
        if self._get is not None:
            self._watcher = asyncio.ensure_future(self._watch(self._get))

    def stop(self) -> None:
        """Stop checking."""
        if self._watcher is not None:
            self._watcher.cancel()

    async def _watch(self, get: GetExecution) -> None:
        """Read the execution as the viewer every ACCESS_SECONDS until they lose it."""
        loop = asyncio.get_running_loop()
        answered = loop.time()
        while True:
            await asyncio.sleep(ACCESS_SECONDS)
            try:
                await asyncio.wait_for(get(), ACCESS_GRACE_SECONDS)
            except grpc.aio.AioRpcError as exc:
                if exc.code() in _ACCESS_GONE:
                    break
            # Any other failure (a timeout, a closed channel) is no answer; the loop must not
            # die of it, or the stream would go on unchecked.
            except Exception:  # noqa: S110
                pass
            else:
                answered = loop.time()
            # Fail closed: a stream whose access cannot be confirmed does not go on for long.
            if loop.time() - answered >= ACCESS_GRACE_SECONDS:
                self.reason = "Service temporarily unavailable"
                break
        self.event.set()


async def _next_or_final(
    chunks: asyncio.Queue[bytes], notice: FinalNotice, lost: asyncio.Event | None = None
) -> bytes | None:
    """The next chunk; None after WAKE_SECONDS, once the final notice has come, or once
    `lost` is set."""
    if not chunks.empty():
        return chunks.get_nowait()
    if notice.arrived() or (lost is not None and lost.is_set()):
        return None
    fetch = asyncio.ensure_future(chunks.get())
    final = asyncio.ensure_future(notice.wait(WAKE_SECONDS))
    waits = {fetch, final}
    if lost is not None:
        waits.add(asyncio.ensure_future(lost.wait()))
    try:
        await asyncio.wait(waits, timeout=WAKE_SECONDS, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for wait in waits:
            wait.cancel()  # a no-op for the fetch when it already has its item
    if fetch.done() and not fetch.cancelled():
        return fetch.result()
    return None

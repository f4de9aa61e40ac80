"""Batches a run's output chunks and publishes them as LogChunk messages, in order.

The chunking is recorded as it happens (`spans`, and `marks` where test cases start and end):
the result carries it, so a replay of the stored output later rebuilds exactly the events live
viewers saw (same seq, same bytes, same order of stdout and stderr). A hidden test case's output
is never published (its start and end are, without anything that reveals its output).
"""

from __future__ import annotations

import asyncio
import contextlib

from nats.js.client import JetStreamContext

from voidrunner.common.logs import get_logger
from voidrunner.contracts.output import complete_prefix
from voidrunner.contracts.results import timestamp
from voidrunner.contracts.topology import MSG_ID_HEADER, log_msg_id, log_subject
from voidrunner.executor.sandbox.types import OutputChunk, StreamName
from voidrunner.proto.jobs.v1 import jobs_pb2

_log = get_logger("voidrunner.executor.logs")
_STREAMS = {StreamName.STDOUT: jobs_pb2.STREAM_STDOUT, StreamName.STDERR: jobs_pb2.STREAM_STDERR}


class LogPublisher:
    """`feed` is the sandbox's on_output callback; `close` flushes what is left.

    Consecutive chunks of one stream are merged up to `batch_bytes`, and a pending batch is sent
    after at most `batch_ms`, so a chatty program costs a few messages per second, not thousands.
    A chunk never ends inside a UTF-8 character while more of its stream may follow: the
    incomplete tail waits for the next batch of that stream (or `close`), so text output arrives
    as exact text. Publishing is best effort: live logs must never fail or slow a run beyond
    their own back-pressure; the result carries the complete (capped) output anyway.
    """

    def __init__(
        self,
        js: JetStreamContext,
        execution_id: str,
        attempt: int,
        claim_tag: str,
        *,
        batch_bytes: int,
        batch_ms: int,
    ) -> None:
        """`claim_tag`: the attempt's claim (contracts.claims), on every chunk and message id."""
        self._js = js
        self._execution_id = execution_id
        self._attempt = attempt
        self._claim_tag = claim_tag
        self._subject = log_subject(execution_id)
        self._batch_bytes = batch_bytes
        self._delay = batch_ms / 1000
        self._seq = 0
        self._pending_stream: StreamName | None = None
        self._pending = bytearray()
        # Per stream: the start of a character that the next bytes of that stream complete.
        self._tails: dict[StreamName, bytes] = {StreamName.STDOUT: b"", StreamName.STDERR: b""}
        self._timer: asyncio.TimerHandle | None = None
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()
        self.spans: list[int] = []
        self.marks: list[jobs_pb2.CaseMark] = []
        self.failed = 0
        self._case = 0
        self._hidden = False

    async def feed(self, chunk: OutputChunk) -> None:
        """Add a chunk; flushes when the stream changes or the batch is full."""
        if self._hidden:
            return
        async with self._lock:
            if self._pending_stream not in (None, chunk.stream):
                await self._flush_locked()
            if self._pending_stream is None:
                self._pending_stream = chunk.stream
                self._pending += self._tails[chunk.stream]
                self._tails[chunk.stream] = b""
            self._pending += chunk.data
            if len(self._pending) >= self._batch_bytes:
                await self._flush_locked()
            elif self._timer is None:
                loop = asyncio.get_running_loop()
                self._timer = loop.call_later(self._delay, self._flush_soon)

    def _flush_soon(self) -> None:
        self._timer = None
        task = asyncio.create_task(self.flush())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def flush(self) -> None:
        """Publish the pending batch now (but for an incomplete last character)."""
        async with self._lock:
            await self._flush_locked()

    async def _flush_locked(self, *, final: bool = False) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        stream = self._pending_stream
        if stream is None:
            return
        end = (
            len(self._pending)
            if final
            else complete_prefix(bytes(self._pending[-4:])) + max(len(self._pending) - 4, 0)
        )
        data = bytes(self._pending[:end])
        self._tails[stream] = bytes(self._pending[end:])
        self._pending.clear()
        self._pending_stream = None
        if data:
            await self._publish(stream, data)

    async def _publish(self, stream: StreamName, data: bytes) -> None:
        self._seq += 1
        self.spans.append(len(data) if stream is StreamName.STDOUT else -len(data))
        chunk = jobs_pb2.LogChunk(
            execution_id=self._execution_id,
            attempt=self._attempt,
            seq=self._seq,
            stream=_STREAMS[stream],
            data=data,
            at=timestamp(),
            case_index=self._case,
        )
        await self._send(chunk)

    async def _send(self, chunk: jobs_pb2.LogChunk) -> None:
        chunk.claim_tag = self._claim_tag
        msg_id = log_msg_id(self._execution_id, self._attempt, chunk.seq, self._claim_tag)
        try:
            await self._js.publish(
                self._subject, chunk.SerializeToString(), headers={MSG_ID_HEADER: msg_id}
            )
        except Exception:  # live logs are best effort; the result has the output
            self.failed += 1
            _log.warning("log chunk publish failed", exc_info=True)

    async def close(self) -> None:
        """Flush everything left, incomplete characters included, and wait for timed flushes."""
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        async with self._lock:
            await self._flush_all()

    async def _flush_all(self) -> None:
        await self._flush_locked(final=True)
        for stream, tail in self._tails.items():
            if tail:
                self._tails[stream] = b""
                await self._publish(stream, tail)

    async def start_case(self, index: int, name: str, *, hidden: bool) -> None:
        """Test case `index` (1-based) starts: its output follows, unless it is hidden."""
        await self._mark(jobs_pb2.CaseMark(case_index=index, name=name))
        self._case, self._hidden = index, hidden

    async def end_case(self, result: jobs_pb2.CaseResult) -> None:
        """The current test case ended with `result` (no output in it)."""
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        async with self._lock:
            await self._flush_all()
        self._case, self._hidden = 0, False
        await self._mark(jobs_pb2.CaseMark(case_index=result.index, end=True, result=result))

    async def _mark(self, mark: jobs_pb2.CaseMark) -> None:
        async with self._lock:
            self._seq += 1
            mark.seq = self._seq
            self.marks.append(mark)
            await self._send(
                jobs_pb2.LogChunk(
                    execution_id=self._execution_id,
                    attempt=self._attempt,
                    seq=self._seq,
                    at=timestamp(),
                    case_index=mark.case_index,
                    mark=mark,
                )
            )

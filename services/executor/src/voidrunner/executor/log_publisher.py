"""Batches a run's output chunks and publishes them as LogChunk messages, in order."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt

from google.protobuf.timestamp_pb2 import Timestamp
from nats.js.client import JetStreamContext

from voidrunner.common.logs import get_logger
from voidrunner.contracts.topology import MSG_ID_HEADER, log_subject
from voidrunner.executor.sandbox.types import OutputChunk, StreamName
from voidrunner.proto.jobs.v1 import jobs_pb2

_log = get_logger("voidrunner.executor.logs")
_STREAMS = {StreamName.STDOUT: jobs_pb2.STREAM_STDOUT, StreamName.STDERR: jobs_pb2.STREAM_STDERR}


class LogPublisher:
    """`feed` is the sandbox's on_output callback; `close` flushes what is left.

    Consecutive chunks of one stream are merged up to `batch_bytes`, and a pending batch is sent
    after at most `batch_ms`, so a chatty program costs a few messages per second, not thousands.
    Publishing is best effort: live logs must never fail or slow a run; the final result carries
    the complete (capped) output anyway.
    """

    def __init__(
        self,
        js: JetStreamContext,
        execution_id: str,
        attempt: int,
        *,
        batch_bytes: int,
        batch_ms: int,
    ) -> None:
        self._js = js
        self._execution_id = execution_id
        self._attempt = attempt
        self._subject = log_subject(execution_id)
        self._batch_bytes = batch_bytes
        self._delay = batch_ms / 1000
        self._seq = 0
        self._pending_stream: StreamName | None = None
        self._pending = bytearray()
        self._timer: asyncio.TimerHandle | None = None
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()
        self.failed = 0

    async def feed(self, chunk: OutputChunk) -> None:
        """Add a chunk; flushes when the stream changes or the batch is full."""
        async with self._lock:
            if self._pending_stream not in (None, chunk.stream):
                await self._flush_locked()
            self._pending_stream = chunk.stream
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
        """Publish the pending batch now."""
        async with self._lock:
            await self._flush_locked()

    async def _flush_locked(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._pending or self._pending_stream is None:
            return
        self._seq += 1
        at = Timestamp()
        at.FromDatetime(dt.datetime.now(dt.UTC))
        chunk = jobs_pb2.LogChunk(
            execution_id=self._execution_id,
            attempt=self._attempt,
            seq=self._seq,
            stream=_STREAMS[self._pending_stream],
            data=bytes(self._pending),
            at=at,
        )
        self._pending.clear()
        msg_id = f"{self._execution_id}:{self._attempt}:{self._seq}"
        try:
            await self._js.publish(
                self._subject, chunk.SerializeToString(), headers={MSG_ID_HEADER: msg_id}
            )
        except Exception:  # live logs are best effort; the result has the output
            self.failed += 1
            _log.warning("log chunk publish failed", execution_id=self._execution_id, exc_info=True)

    async def close(self) -> None:
        """Flush the last batch and wait for timer-driven flushes."""
        await self.flush()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task

"""The output collector every backend uses: capped, streamed in production order, bounded memory.

Policy (the same for every backend):
- each stream (stdout, stderr) keeps at most `max_bytes` bytes; what is kept is also streamed to
  `on_output`, chunk by chunk, in the order the chunks were fed (one lock serialises delivery);
- the first byte beyond a stream's cap marks that stream truncated and sets `exceeded`. The backend
  then kills the run and reports `TerminationReason.OUTPUT_LIMIT`: a flood is ended, not drained.
  Until the kill lands, `pump()` keeps reading and discarding, so the writer never blocks and the
  collector never holds more than `2 * max_bytes` plus one read chunk;
- a failing `on_output` callback does not fail the run: the first error is kept in
  `callback_error`, streaming stops, collection goes on.

    collector = OutputCollector(limits.max_output_bytes, on_output)
    await asyncio.gather(collector.pump(StreamName.STDOUT, proc.stdout), ...)
    if collector.exceeded: ...kill, reason OUTPUT_LIMIT...
    collector.stdout, collector.stdout_truncated, ...
"""

from __future__ import annotations

import asyncio

from voidrunner.executor.sandbox.types import OnOutput, OutputChunk, StreamName

__all__ = ["DEFAULT_CHUNK_SIZE", "OutputCollector"]

DEFAULT_CHUNK_SIZE = 64 * 1024


class _Stream:
    __slots__ = ("kept", "seen", "truncated")

    def __init__(self) -> None:
        self.kept = bytearray()
        self.seen = 0
        self.truncated = False


class OutputCollector:
    """Collects stdout and stderr of one run; see the module docstring for the policy."""

    def __init__(
        self, max_bytes: int, on_output: OnOutput | None = None, *, enforce: bool = True
    ) -> None:
        """`enforce=False` keeps the cap and the truncated flags but never asks for the run to
        be ended (a compile step's chatter is cut, not fatal)."""
        if max_bytes < 0:
            raise ValueError("max_bytes must not be negative")
        self._max = max_bytes
        self._on_output = on_output
        self._enforce = enforce
        self._streams = {StreamName.STDOUT: _Stream(), StreamName.STDERR: _Stream()}
        self._lock = asyncio.Lock()
        self._exceeded = asyncio.Event()
        self.callback_error: BaseException | None = None

    @property
    def max_bytes(self) -> int:
        return self._max

    async def feed(self, stream: StreamName, data: bytes) -> None:
        """Take one chunk of `stream`: keep and stream what fits under the cap, drop the rest."""
        if not data:
            return
        state = self._streams[stream]
        state.seen += len(data)
        room = self._max - len(state.kept)
        keep = data[:room] if room > 0 else b""
        if len(keep) < len(data):
            state.truncated = True
            if self._enforce:
                self._exceeded.set()
        if not keep:
            return
        state.kept += keep
        if self._on_output is None:
            return
        async with self._lock:
            if self.callback_error is not None:
                return
            try:
                await self._on_output(OutputChunk(stream=stream, data=bytes(keep)))
            except Exception as exc:  # the consumer's failure must not end the run
                self.callback_error = exc

    async def pump(
        self,
        stream: StreamName,
        reader: asyncio.StreamReader,
        *,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
    ) -> None:
        """Feed everything `reader` yields until EOF (discarding once the cap is passed)."""
        while True:
            data = await reader.read(chunk_size)
            if not data:
                return
            await self.feed(stream, data)

    @property
    def exceeded(self) -> bool:
        """True once any stream produced more than `max_bytes`: the run must be ended."""
        return self._exceeded.is_set()

    async def wait_exceeded(self) -> None:
        """Return when the cap is first passed (use it as one of the run's stop conditions)."""
        await self._exceeded.wait()

    @property
    def stdout(self) -> bytes:
        return bytes(self._streams[StreamName.STDOUT].kept)

    @property
    def stderr(self) -> bytes:
        return bytes(self._streams[StreamName.STDERR].kept)

    @property
    def stdout_truncated(self) -> bool:
        return self._streams[StreamName.STDOUT].truncated

    @property
    def stderr_truncated(self) -> bool:
        return self._streams[StreamName.STDERR].truncated

    def bytes_seen(self, stream: StreamName) -> int:
        """How many bytes `stream` produced in total, dropped ones included."""
        return self._streams[stream].seen

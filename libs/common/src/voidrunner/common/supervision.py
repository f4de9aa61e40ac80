"""Background loops under supervision: a crash is logged with its cause and the loop restarts.

    supervisor = Supervisor(Backoff(initial=0.5, maximum=10.0))
    supervisor.add("dispatch", dispatch, signals_ready=True)   # async def dispatch(loop: Loop)
    supervisor.start()
    supervisor.healthy()                        # every loop up (what grpc.health.v1 reports)
    supervisor.health()["dispatch"].last_error  # "ConnectionError: ..."
    await supervisor.stop(grace=10.0)

A loop is a coroutine factory that takes its `Loop` handle and runs until `loop.stop` is set.
It counts as up once it runs, or, when added with `signals_ready=True`, once it calls
`loop.ready()` (after binding its consumer, say: a loop still waiting for its dependency is not
serving). `loop.not_ready(reason)` marks it down without a crash (a connection that dropped and
is being re-established by its client).

A crash (an exception, or returning before stop) is logged at error level with its traceback and
the loop is down until its next run is up. The next run starts after a delay that doubles from
`Backoff.initial` up to `Backoff.maximum`, spread by a random `jitter` so that replicas which
crashed together do not retry in step, and that starts from `initial` again once a run stayed
up for `Backoff.reset_after` seconds.

`stop(grace)` sets `loop.stop` for every loop. Loops that are up get `grace` seconds to return
(to drain what they hold); loops that are not up (setting up, waiting for a dependency, backing
off) are cancelled at once, and so is any loop still running when the grace ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from voidrunner.common.logs import get_logger

if TYPE_CHECKING:
    from voidrunner.common.settings import BaseServiceSettings

_log = get_logger("voidrunner.supervision")
LoopFactory = Callable[["Loop"], Awaitable[object]]
# The longest text of an error kept in health (a traceback goes to the log, not to probes).
_ERROR_CHARS = 300


@dataclass(frozen=True, slots=True)
class Backoff:
    """How long a crashed loop waits before its next run."""

    initial: float = 0.5
    maximum: float = 10.0
    factor: float = 2.0
    # A run that stayed up this long was healthy: the next crash waits `initial` again.
    reset_after: float = 30.0
    # The delay is spread by ± this fraction.
    jitter: float = 0.2

    def delay(self, failures: int, spread: float = 0.5) -> float:
        """Seconds before the run after the `failures`-th crash in a row (1 = the first);
        `spread` in [0, 1) places the delay within ± jitter (0.5: no spread)."""
        # The exponent is bounded: a float overflows past 2**1023.
        base = self.initial * self.factor ** min(max(failures - 1, 0), 64)
        spread_by = 1 + self.jitter * (2 * spread - 1)
        return max(0.0, min(self.maximum, min(base, self.maximum) * spread_by))


@dataclass(frozen=True, slots=True)
class LoopHealth:
    """One loop as health reports it."""

    up: bool
    # The last crash (type and message) or not-ready reason; kept after recovery.
    last_error: str | None = None
    restarts: int = 0


class Loop:
    """What a supervised loop sees of its supervisor: the stop event and its own readiness."""

    def __init__(
        self,
        name: str,
        stop: asyncio.Event,
        on_change: Callable[[], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.stop = stop
        self.last_error: str | None = None
        self._on_change = on_change
        self._clock = clock
        self._up = False
        self._up_since: float | None = None

    @property
    def up(self) -> bool:
        """True while this loop counts as serving."""
        return self._up

    def ready(self) -> None:
        """This loop serves (again)."""
        if not self._up:
            self._up = True
            self._up_since = self._clock()
            self._on_change()

    def not_ready(self, reason: str) -> None:
        """This loop cannot serve for now, without having crashed (a dependency is away)."""
        self.last_error = reason[:_ERROR_CHARS]
        self._set_down()

    def _set_down(self) -> None:
        if self._up:
            self._up = False
            self._up_since = None
            self._on_change()

    def _up_for(self) -> float:
        return 0.0 if self._up_since is None else self._clock() - self._up_since


@dataclass(slots=True)
class _Entry:
    factory: LoopFactory
    signals_ready: bool
    loop: Loop
    task: asyncio.Task[None] | None = None
    failures: int = 0
    restarts: int = 0


class Supervisor:
    """Runs named loops, restarts them after crashes, stops them on shutdown, reports health."""

    def __init__(
        self,
        backoff: Backoff | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        spread: Callable[[], float] = random.random,
    ) -> None:
        self._backoff = backoff or Backoff()
        self._clock = clock
        # Jitter only; nothing secret depends on it.
        self._spread = spread
        self._entries: dict[str, _Entry] = {}
        self._stop = asyncio.Event()
        self._changed = asyncio.Event()
        self._started = False

    def add(self, name: str, factory: LoopFactory, *, signals_ready: bool = False) -> None:
        """Supervise `factory` as loop `name` (started now when the supervisor already runs).

        With `signals_ready`, the loop is up only once it calls `loop.ready()`."""
        if name in self._entries:
            msg = f"a loop named {name!r} is already supervised"
            raise ValueError(msg)
        entry = _Entry(factory, signals_ready, Loop(name, self._stop, self._notify, self._clock))
        self._entries[name] = entry
        self._notify()
        if self._started:
            self._spawn(name, entry)

    def start(self) -> None:
        """Start every loop added so far (needs a running event loop)."""
        if self._started:
            msg = "supervisor already started"
            raise RuntimeError(msg)
        self._started = True
        for name, entry in self._entries.items():
            self._spawn(name, entry)

    def health(self) -> dict[str, LoopHealth]:
        """Every loop's state now."""
        stopping = self._stop.is_set()
        return {
            name: LoopHealth(
                up=entry.loop.up and not stopping,
                last_error=entry.loop.last_error,
                restarts=entry.restarts,
            )
            for name, entry in self._entries.items()
        }

    def healthy(self) -> bool:
        """True while running and every loop is up."""
        if self._stop.is_set():
            return False
        return all(entry.loop.up for entry in self._entries.values())

    async def changed(self) -> None:
        """Return at the next change of any loop's health (or of the supervisor's stopping)."""
        await self._changed.wait()

    async def stop(self, grace: float) -> None:
        """Stop every loop: those that are up get `grace` seconds to return, then are cancelled."""
        self._stop.set()
        self._notify()
        tasks = {name: e.task for name, e in self._entries.items() if e.task is not None}
        for name, task in tasks.items():
            if not self._entries[name].loop.up:
                task.cancel()  # setting up or backing off: nothing to drain
        if not tasks:
            return
        _done, pending = await asyncio.wait(set(tasks.values()), timeout=grace)
        for name, task in tasks.items():
            if task in pending:
                _log.warning("loop did not stop within its grace; cancelled", loop=name)
                task.cancel()
        await asyncio.gather(*tasks.values(), return_exceptions=True)

    def _notify(self) -> None:
        # Wake everyone waiting in changed(), then arm a fresh event for the next change.
        self._changed.set()
        self._changed = asyncio.Event()

    def _spawn(self, name: str, entry: _Entry) -> None:
        entry.task = asyncio.create_task(self._supervise(name, entry), name=f"loop:{name}")

    async def _supervise(self, name: str, entry: _Entry) -> None:
        loop = entry.loop
        while not self._stop.is_set():
            if not entry.signals_ready:
                loop.ready()
            error: BaseException | None = None
            try:
                await entry.factory(loop)
            except asyncio.CancelledError as exc:
                task = asyncio.current_task()
                if task is None or task.cancelling():
                    raise  # this supervisor (or its owner) cancels the loop
                # A CancelledError from something the loop awaited, not for the loop itself:
                # ending silently here would be the silent stop this module exists to prevent.
                error = exc
            except Exception as exc:  # a crash of any kind is this supervisor's to handle
                error = exc
            up_for = loop._up_for()
            loop._set_down()
            if self._stop.is_set():
                if error is not None:
                    _log.warning("loop failed while stopping", loop=name, exc_info=error)
                return
            entry.restarts += 1
            entry.failures = 1 if up_for >= self._backoff.reset_after else entry.failures + 1
            delay = self._backoff.delay(entry.failures, self._spread())
            loop.last_error = _describe(error)
            self._notify()
            _log.error(
                "loop crashed; restarting" if error else "loop returned before stop; restarting",
                loop=name,
                restart_in=round(delay, 3),
                failures=entry.failures,
                exc_info=error,
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), delay)
            if not self._stop.is_set():
                _log.info("loop restarting", loop=name, restarts=entry.restarts)


def _describe(error: BaseException | None) -> str:
    if error is None:
        return "returned before stop"
    text = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    return text[:_ERROR_CHARS]


def supervisor_for(settings: BaseServiceSettings) -> Supervisor:
    """A supervisor with the service's configured restart delays."""
    return Supervisor(
        Backoff(
            initial=settings.loop_restart_first_seconds,
            maximum=settings.loop_restart_max_seconds,
        )
    )

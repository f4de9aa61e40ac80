"""A warm pool: containers created and started ahead of time, each used for exactly one run.

    pool = WarmPool(size=2, make=make_container, discard=remove_container)
    pool.watch(key)                  # keep `size` ready for this configuration
    taken = pool.take(key)           # a ready container id (now the caller's), or None
    await pool.close()               # stop refilling and remove every idle container

A container is never reused: `take` hands it over and the pool starts a replacement in the
background. Keys are whole container configurations (image and enforced limits), so a warm
container is identical to the one a cold run would create. `make(key, name)` creates and starts a
container called `name` and returns its id; `held_names()` lists the names the pool is responsible
for (being created or idle), which lets a leftovers check tell pool stock from abandoned runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections import deque
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

__all__ = ["WarmPool"]

_log = logging.getLogger(__name__)
K = TypeVar("K", bound=Hashable)


class WarmPool(Generic[K]):
    """Keeps `size` started containers per watched key; see the module docstring."""

    def __init__(
        self,
        size: int,
        make: Callable[[K, str], Awaitable[str]],
        discard: Callable[[str], Awaitable[None]],
        *,
        name_prefix: str = "voidrunner-warm",
        retry_delay: float = 5.0,
    ) -> None:
        if size < 0:
            raise ValueError("size must not be negative")
        self._size = size
        self._make = make
        self._discard = discard
        self._prefix = name_prefix
        self._retry_delay = retry_delay
        self._idle: dict[K, deque[tuple[str, str]]] = {}
        self._creating: dict[K, set[str]] = {}
        self._refills: dict[K, asyncio.Task[None]] = {}
        self._closed = False

    @property
    def size(self) -> int:
        return self._size

    def watch(self, key: K) -> None:
        """Keep `size` ready containers for `key` from now on (a no-op when size is 0)."""
        if self._size == 0 or self._closed:
            return
        self._idle.setdefault(key, deque())
        self._creating.setdefault(key, set())
        self._refill(key)

    def take(self, key: K, *, replace: bool = True) -> str | None:
        """A ready container's id for `key`, handed over for one run; None when none is ready.

        `replace=False` leaves starting its replacement to a later `replenish`: a caller whose
        replacement's start would compete with the run it took this one for starts it after."""
        idle = self._idle.get(key)
        if not idle:
            return None
        container_id, _ = idle.popleft()
        if replace:
            self._refill(key)
        return container_id

    def replenish(self, key: K) -> None:
        """Start what `key` lacks of its `size` (a no-op for a full or unwatched key)."""
        if key in self._idle:
            self._refill(key)

    def ready(self, key: K) -> int:
        """How many containers are ready for `key` right now."""
        return len(self._idle.get(key, ()))

    def held_names(self) -> set[str]:
        """Names of the containers the pool owns: being created or idle."""
        names = {name for items in self._idle.values() for _, name in items}
        for creating in self._creating.values():
            names |= creating
        return names

    async def wait_ready(self, key: K, seconds: float) -> bool:
        """Wait until `key` has `size` ready containers (tests and benchmarks)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while self.ready(key) < self._size:
            if loop.time() > deadline:
                return False
            await asyncio.sleep(0.02)
        return True

    async def wait_all_ready(self, seconds: float) -> bool:
        """Wait until every watched key has `size` ready containers (tests and benchmarks)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        for key in list(self._idle):
            if not await self.wait_ready(key, max(0.0, deadline - loop.time())):
                return False
        return True

    def _refill(self, key: K) -> None:
        task = self._refills.get(key)
        if self._closed or (task is not None and not task.done()):
            return
        self._refills[key] = asyncio.create_task(self._fill(key), name=f"warm-pool-fill-{key}")

    async def _fill(self, key: K) -> None:
        idle, creating = self._idle[key], self._creating[key]
        while not self._closed and len(idle) + len(creating) < self._size:
            name = f"{self._prefix}-{secrets.token_hex(8)}"
            creating.add(name)
            try:
                container_id = await self._make(key, name)
            except Exception:
                # The engine may be briefly unhappy (or the image gone): runs go cold meanwhile.
                _log.warning("warm pool: creating a container failed", exc_info=True)
                creating.discard(name)
                await asyncio.sleep(self._retry_delay)
                continue
            creating.discard(name)
            if self._closed:
                await self._discard(container_id)
                return
            idle.append((container_id, name))

    async def close(self) -> None:
        """Stop refilling, let creations in flight finish, and remove every idle container."""
        self._closed = True
        tasks = [t for t in self._refills.values() if not t.done()]
        if tasks:
            _, late = await asyncio.wait(tasks, timeout=30)
            for task in late:
                task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for idle in self._idle.values():
            while idle:
                container_id, _ = idle.popleft()
                with contextlib.suppress(Exception):
                    await self._discard(container_id)

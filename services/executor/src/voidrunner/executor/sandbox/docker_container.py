"""One container's life in the docker backend: attach, start, feed, stream, stop, inspect.

    stop, state = await supervise(client, container_id, started=False, payload=..., ...)

`supervise` attaches to stdout/stderr and (separately) to stdin before starting the container, so
no output is missed; then it sends the launcher's payload and closes stdin, streams output into the
collector (the launcher's trailer into the splitter) and waits for the first of: the container
exits, the timeout, an output flood, cancellation. Whatever stopped it is returned with the
engine's final `State`; the caller removes the container. Two attach connections rather than one
because closing only our sending half of a hijacked connection is impossible over TLS.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
from collections.abc import Callable
from typing import Any

import aiodocker
from aiodocker.stream import Stream
from yarl import URL

from voidrunner.executor.sandbox.docker_launcher import TrailerSplitter
from voidrunner.executor.sandbox.output import OutputCollector
from voidrunner.executor.sandbox.types import CancelToken, StreamName, TerminationReason

__all__ = ["attach", "reap_processes", "supervise", "terminate"]

_STREAM_STDOUT, _STREAM_STDERR = 1, 2
_PUMP_GRACE = 2.0
_KILL_WAIT = 10.0  # for a delivered SIGKILL to end the container
_REAP_WAIT = 5.0  # for the engine to notice that the container's processes are gone


async def supervise(
    client: aiodocker.Docker,
    container_id: str,
    *,
    started: bool,
    payload: bytes,
    splitter: TrailerSplitter,
    collector: OutputCollector,
    timeout_seconds: float,
    cancel: CancelToken | None,
    kill_grace: float,
    reap: Callable[[], None],
) -> tuple[TerminationReason, dict[str, Any]]:
    """Run the container to its end; returns why we stopped waiting (EXIT: it ended by itself)
    and its `State`. Raises aiodocker.DockerError when the engine refuses a step. `reap` kills
    the container's processes on the host, for when the engine cannot stop it."""
    container = client.containers.container(container_id)
    output = attach(client, container_id, stdout=True, stderr=True)
    feed = attach(client, container_id, stdin=True)
    tasks: list[asyncio.Task[Any]] = []
    try:
        await output.__aenter__()
        await feed.__aenter__()
        if not started:
            await container.start()
        exited = asyncio.create_task(container.wait())
        pump = asyncio.create_task(_pump(output, collector, splitter))
        tasks += [exited, pump, asyncio.create_task(_feed(feed, payload))]
        stops: dict[asyncio.Task[Any], TerminationReason] = {
            asyncio.create_task(asyncio.sleep(timeout_seconds)): TerminationReason.TIMEOUT,
            asyncio.create_task(collector.wait_exceeded()): TerminationReason.OUTPUT_LIMIT,
        }
        if cancel is not None:
            stops[asyncio.create_task(cancel.wait())] = TerminationReason.CANCELLED
        tasks += stops
        await asyncio.wait([exited, *stops], return_when=asyncio.FIRST_COMPLETED)
        stop = TerminationReason.EXIT
        for task, why in stops.items():
            # Cancellation wins: the caller asked, and must hear that it was obeyed.
            if task.done() and (
                stop is TerminationReason.EXIT or why is TerminationReason.CANCELLED
            ):
                stop = why
        if not exited.done():
            await terminate(container, exited, kill_grace, reap)
        await asyncio.wait([pump], timeout=_PUMP_GRACE)
        state = (await container.show()).get("State", {})
        return stop, state
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for stream in (feed, output):
            with contextlib.suppress(Exception):
                await stream.close()


def attach(client: aiodocker.Docker, container_id: str, **streams: bool) -> Stream:
    """An attach stream on `container_id` (not yet connected), without aiodocker's inspect."""
    params = {"stream": 1, **{k: int(v) for k, v in streams.items()}}
    url = URL(f"containers/{container_id}/attach").with_query(params)

    async def setup() -> tuple[URL, bytes | None, bool]:
        return url, None, False  # Tty is always off: stdout and stderr stay separate

    return Stream(client, setup)


async def terminate(
    container: Any, exited: asyncio.Task[Any], kill_grace: float, reap: Callable[[], None]
) -> None:
    """SIGTERM the launcher (it kills the code and reports), SIGKILL after the grace period.

    The engine's kill call is not awaited: when a gVisor sandbox dies at the moment it is
    signalled (an OOM kill racing the timeout), `runsc kill` blocks for about 100 s and the engine
    keeps the container running until then. A kill call still pending after its grace period
    means the engine is stuck on this container, so its processes are killed on the host.
    """
    calls: list[asyncio.Task[None]] = []
    try:
        for signal, grace in (("SIGTERM", kill_grace), ("SIGKILL", _KILL_WAIT)):
            calls.append(asyncio.create_task(_kill(container, signal)))
            await asyncio.wait([exited], timeout=grace)
            if exited.done():
                return
            if not calls[-1].done():
                break
        reap()
        await asyncio.wait([exited], timeout=_REAP_WAIT)
    finally:
        for call in calls:
            call.cancel()
        await asyncio.gather(*calls, return_exceptions=True)


async def _kill(container: Any, signal: str) -> None:
    with contextlib.suppress(aiodocker.DockerError):
        await container.kill(signal=signal)


async def _feed(stream: Stream, payload: bytes) -> None:
    """Send the payload and close our side, so the program sees EOF after its stdin."""
    with contextlib.suppress(ConnectionError, RuntimeError):
        await stream.write_in(payload)
    await stream.close()


async def _pump(stream: Stream, collector: OutputCollector, splitter: TrailerSplitter) -> None:
    """Feed the attach stream into the collector; the launcher's trailer goes to `splitter`."""
    while (message := await stream.read_out()) is not None:
        if message.stream == _STREAM_STDOUT:
            await collector.feed(StreamName.STDOUT, message.data)
        elif message.stream == _STREAM_STDERR:
            await collector.feed(StreamName.STDERR, splitter.feed(message.data))
    await collector.feed(StreamName.STDERR, splitter.finish())


def reap_processes(host: str, container_id: str) -> None:
    """Kill the shim and gVisor processes of `container_id` the engine no longer tracks.

    A failed runsc start can leave containerd-shim, runsc-gofer and runsc-sandbox processes behind
    that Docker does not list. They carry the container's full id in their command line; only a
    local engine's processes are visible, and only root may signal them.
    """
    if (
        not host.startswith("unix://")
        or os.geteuid() != 0
        or not re.fullmatch(r"[0-9a-f]{64}", container_id)
    ):
        return
    needle = container_id.encode()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as file:
                argv = file.read().split(b"\0")
        except OSError:
            continue
        program = os.path.basename(argv[0])
        if needle in b" ".join(argv) and program.startswith((b"containerd-shim", b"runsc")):
            with contextlib.suppress(OSError):
                os.kill(int(entry), 9)

"""Support for the sandbox conformance suite (services/executor/tests/conformance): a `Backend`
is a sandbox with its leftovers probe, as the suite's registry builds it for each backend.

    Backend(name="bwrap", sandbox=..., leftovers=..., make=...)
    await run(sandbox, "print(1)", timeout_seconds=2)
    processes_with(mark)        # host pids whose argv or environment carries a run's marker
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TypeVar

import pytest

from voidrunner.contracts.runtimes import RuntimeCatalog
from voidrunner.executor.sandbox.types import (
    CancelToken,
    Limits,
    OnOutput,
    RunRequest,
    RunResult,
    Sandbox,
)

__all__ = [
    "BACKENDS_BUILT",
    "BACKENDS_OUTPUT",
    "FAST",
    "Backend",
    "marker",
    "merge_backends",
    "processes_with",
    "run",
    "settled",
    "write_backends",
]

T = TypeVar("T")

FAST = Limits(timeout_seconds=10.0, memory_bytes=256 * 1024 * 1024, max_output_bytes=1024 * 1024)


# The backends this session built, by name: here, not in the suite's conftest, which the abuse
# suite loads a second time by path: one instance per backend (a warm pool's uids are its own).
BACKENDS_BUILT: dict[str, Backend] = {}
# The key of a pytest-xdist worker's `workeroutput` that holds which backends it ran.
BACKENDS_OUTPUT = "voidrunner_sandbox_backends"


def merge_backends(into: dict[str, str], seen: dict[str, str]) -> None:
    """Add one worker's "ran"/"skipped: why" per backend: a backend any worker ran ran."""
    for name, status in seen.items():
        if into.get(name) != "ran":
            into[name] = status


def write_backends(terminalreporter: pytest.TerminalReporter, ran: dict[str, str]) -> None:
    """The session's last section: which sandbox backends ran, or why each was skipped."""
    if not ran:
        return
    terminalreporter.section("sandbox backends")
    for name in sorted(ran):
        terminalreporter.write_line(f"{name:14} {ran[name]}")


@dataclass
class Backend:
    """A sandbox under test plus the probes the backend-agnostic cases need."""

    name: str
    sandbox: Sandbox
    # What the backend may have left behind (cgroup dirs, containers): empty between runs.
    leftovers: Callable[[], list[str]]
    # Another instance of this backend over another catalogue (for "toolchain missing").
    make: Callable[[RuntimeCatalog], Sandbox]
    # False where the sandbox's processes are not host processes (gVisor).
    host_visible_processes: bool = True
    # False where a per-run process limit cannot be enforced (this gVisor ignores pids limits
    # inside the sandbox); there, memory is what bounds a fork bomb.
    enforces_pids: bool = True


def marker() -> str:
    """A unique word to put in a run's environment, so its processes can be found on the host."""
    return f"vrmark{uuid.uuid4().hex}"


async def run(
    sandbox: Sandbox,
    source: str,
    *,
    runtime: str = "python",
    stdin: bytes = b"",
    env: dict[str, str] | None = None,
    on_output: OnOutput | None = None,
    cancel: CancelToken | None = None,
    **limits: float,
) -> RunResult:
    """Run `source` with the suite's default limits, any field overridable by keyword."""
    request = RunRequest(
        runtime=runtime,
        source=source,
        stdin=stdin,
        env=env or {},
        limits=replace(FAST, **limits),  # type: ignore[arg-type]
        run_id="conformance",
    )
    return await sandbox.run(request, on_output=on_output, cancel=cancel)


def processes_with(mark: str) -> list[int]:
    """Host pids whose command line or environment carries `mark`."""
    needle = mark.encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        for part in ("cmdline", "environ"):
            try:
                with open(f"/proc/{entry}/{part}", "rb") as file:
                    if needle in file.read():
                        found.append(int(entry))
                        break
            except OSError:
                continue
    return found


async def settled(probe: Callable[[], list[T]], seconds: float = 3.0) -> list[T]:
    """Poll `probe` until it returns nothing or `seconds` pass; returns what is left. The event
    loop runs meanwhile (a backend may finish removing a run's container in the background
    after returning its result)."""
    deadline = time.monotonic() + seconds
    while True:
        left = probe()
        if not left or time.monotonic() > deadline:
            return left
        await asyncio.sleep(0.02)

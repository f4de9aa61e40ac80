"""Conformance: limits and hostile code (timeouts, memory, fork bombs, floods, cancellation)."""

from __future__ import annotations

import asyncio
import resource
import time

import pytest

from sandbox_testing.conformance import Backend, marker, processes_with, run, settled
from voidrunner.executor.sandbox.types import Sandbox, TerminationReason

pytestmark = pytest.mark.sandbox

MiB = 1024 * 1024

SPAWN_AND_SPIN = """
import os, subprocess, time
subprocess.Popen(["sleep", "1000"])
if os.fork() == 0:          # a daemon: double fork, new session
    os.setsid()
    if os.fork() == 0:
        time.sleep(1000)
    os._exit(0)
print("spawned", flush=True)
while True:
    pass
"""


async def test_timeout_kills_everything_inside(backend: Backend) -> None:
    mark = marker()
    started = time.monotonic()
    result = await run(backend.sandbox, SPAWN_AND_SPIN, env={"MARK": mark}, timeout_seconds=1.5)
    elapsed = time.monotonic() - started
    assert result.termination_reason is TerminationReason.TIMEOUT
    assert result.return_code is None
    assert result.stdout == b"spawned\n"
    assert 1.4 < elapsed < 5.0
    assert result.cpu_time_ms > 500, "the busy loop's CPU time must be accounted"
    if backend.host_visible_processes:
        assert await settled(lambda: processes_with(mark)) == []


async def test_never_exiting_sleeper_times_out(sandbox: Sandbox) -> None:
    result = await run(sandbox, "import time\ntime.sleep(1000)", timeout_seconds=0.5)
    assert result.termination_reason is TerminationReason.TIMEOUT
    assert result.return_code is None


async def test_memory_limit_is_enforced_and_reported(sandbox: Sandbox) -> None:
    src = "chunks = []\nwhile True:\n    chunks.append(bytearray(8 * 1024 * 1024))"
    result = await run(sandbox, src, memory_bytes=64 * MiB)
    assert result.termination_reason is TerminationReason.MEMORY_LIMIT, result
    assert result.return_code is None
    assert result.memory_usage_bytes <= 80 * MiB


async def test_peak_memory_and_cpu_time_are_measured(sandbox: Sandbox) -> None:
    src = (
        "import time\nblob = bytearray(48 * 1024 * 1024)\n"
        "end = time.process_time() + 0.3\nwhile time.process_time() < end:\n    pass\n"
    )
    result = await run(sandbox, src, memory_bytes=256 * MiB)
    assert result.termination_reason is TerminationReason.EXIT
    assert result.memory_usage_bytes >= 40 * MiB
    assert result.cpu_time_ms >= 250


async def test_fork_bomb_is_contained(backend: Backend) -> None:
    mark = marker()
    src = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n"
    result = await run(backend.sandbox, src, env={"MARK": mark}, pids=32, timeout_seconds=2)
    if backend.enforces_pids:
        # Forks fail at the pids limit; the loop spins until the timeout ends it.
        assert result.termination_reason is TerminationReason.TIMEOUT
    else:
        # Without a process limit (gVisor), the memory limit is what stops the bomb.
        assert result.termination_reason in {
            TerminationReason.TIMEOUT,
            TerminationReason.MEMORY_LIMIT,
        }
    if backend.host_visible_processes:
        assert await settled(lambda: processes_with(mark)) == []
    healthy = await run(backend.sandbox, "print('still fine')")
    assert healthy.stdout == b"still fine\n"


@pytest.mark.parametrize("stream", ["stdout", "stderr"])
async def test_output_flood_is_truncated_and_ended(sandbox: Sandbox, stream: str) -> None:
    src = f"import sys\nfor _ in range(50):\n    sys.{stream}.buffer.write(b'x' * (1024 * 1024))\n"
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result = await run(sandbox, src, max_output_bytes=64 * 1024, timeout_seconds=20)
    rss_growth_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before
    assert result.termination_reason is TerminationReason.OUTPUT_LIMIT
    assert result.return_code is None
    assert getattr(result, stream) == b"x" * 64 * 1024
    assert getattr(result, f"{stream}_truncated")
    assert rss_growth_kib < 32 * 1024, "the executor must not buffer the flood"


async def test_endless_print_loop_is_ended_quickly(sandbox: Sandbox) -> None:
    started = time.monotonic()
    result = await run(sandbox, "while True:\n    print('spam' * 100)", max_output_bytes=100_000)
    assert result.termination_reason is TerminationReason.OUTPUT_LIMIT
    assert len(result.stdout) == 100_000
    assert time.monotonic() - started < 5


async def test_closed_stdout_still_gives_a_clean_result(sandbox: Sandbox) -> None:
    src = (
        "import os, sys, time\nos.close(1)\ntime.sleep(0.3)\nsys.stderr.write('alive')\nos._exit(3)"
    )
    result = await run(sandbox, src)
    assert result.termination_reason is TerminationReason.EXIT
    assert (result.return_code, result.stdout, result.stderr) == (3, b"", b"alive")


async def test_cancellation_ends_the_run_promptly(backend: Backend) -> None:
    mark = marker()
    cancel = asyncio.Event()
    task = asyncio.create_task(
        run(backend.sandbox, SPAWN_AND_SPIN, env={"MARK": mark}, cancel=cancel)
    )
    await asyncio.sleep(1.0)
    assert not task.done()
    cancel.set()
    fired = time.monotonic()
    result = await task
    latency = time.monotonic() - fired
    assert result.termination_reason is TerminationReason.CANCELLED
    assert result.return_code is None
    assert latency < 1.0, f"cancellation took {latency:.3f}s"
    if backend.host_visible_processes:
        assert await settled(lambda: processes_with(mark)) == []


async def test_cancel_before_start_never_runs_to_completion(sandbox: Sandbox) -> None:
    cancel = asyncio.Event()
    cancel.set()
    result = await run(sandbox, "import time\ntime.sleep(5)\nprint('ran')", cancel=cancel)
    assert result.termination_reason is TerminationReason.CANCELLED
    assert result.stdout == b""

"""The executor started as root keeps only the capabilities spawning sandboxes needs, in every
thread, and sandboxes still start, time out, get killed and cleaned up with just those."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from voidrunner.executor.privileges import CAPABILITIES, KEEP, capability_sets
from voidrunner.executor.sandbox.cgroups import CgroupDriver

pytestmark = [
    pytest.mark.sandbox,
    pytest.mark.skipif(os.geteuid() != 0, reason="the drop applies to an executor started as root"),
]

KEPT = {"CAP_KILL", "CAP_SETGID", "CAP_SETUID"}
# Away from the ranges other sandboxes of this test session lease.
UID_BASE = 0x70000000 + 0x30000


def dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def test_the_kept_sets_are_the_measured_ones() -> None:
    assert KEEP["bwrap"] == KEPT
    assert KEEP["docker"] == {"CAP_KILL"}
    assert set(KEPT) <= set(CAPABILITIES)


def test_a_root_executor_keeps_exactly_the_spawning_capabilities() -> None:
    env = {
        **os.environ,
        # NATS stays away: the executor sets up, drops, serves health and waits for it.
        "VOIDRUNNER_NATS_URL": f"nats://127.0.0.1:{dead_port()}",
        "VOIDRUNNER_EXECUTOR_HEALTH_HOST": "127.0.0.1",
        "VOIDRUNNER_EXECUTOR_HEALTH_PORT": "0",
        "VOIDRUNNER_SANDBOX_UID_BASE": str(UID_BASE),
        "VOIDRUNNER_LOG_FORMAT": "json",
        # Tracing on: its exporter thread must start after the drop as well.
        "VOIDRUNNER_OTLP_ENDPOINT": f"http://127.0.0.1:{dead_port()}",
    }
    env.pop("VOIDRUNNER_EXECUTOR_DROP_CAPABILITIES", None)
    with subprocess.Popen(
        [sys.executable, "-m", "voidrunner.executor"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    ) as proc:
        try:
            assert proc.stdout is not None
            events: list[dict[str, object]] = []
            deadline = time.monotonic() + 90
            while not any(e.get("event") == "service started" for e in events):
                assert time.monotonic() < deadline, events
                line = proc.stdout.readline()
                assert line, f"the executor ended: {events}"
                try:
                    events.append(json.loads(line))
                except ValueError:
                    continue
            dropped = [e for e in events if e.get("event") == "capabilities dropped"]
            assert dropped == [dropped[0]], events
            assert dropped[0]["kept"] == sorted(KEPT)
            # Its gRPC server's and span exporter's threads started after the drop, so they
            # hold the same.
            threads = sorted(Path(f"/proc/{proc.pid}/task").iterdir())
            assert len(threads) > 1
            for task in threads:
                sets = capability_sets(task / "status")
                assert sets == {
                    "CapInh": set(),
                    "CapPrm": KEPT,
                    "CapEff": KEPT,
                    "CapBnd": KEPT,
                    "CapAmb": set(),
                }, task
        finally:
            proc.kill()


SPAWNER = """
import asyncio, json, os
from voidrunner.contracts.runtimes import Limits
from voidrunner.executor.privileges import KEEP, capability_sets, drop_capabilities
from voidrunner.executor.sandbox.bwrap import BwrapSandbox
from voidrunner.executor.sandbox.cgroups import CgroupDriver
from voidrunner.executor.sandbox.types import RunRequest
from voidrunner.executor.sandbox.uid_range import UidRange

# A parent group of its own, created by the set-up: where the executor's own group is a
# hierarchy's root, creating it takes a capability that is dropped next.
cgroups = CgroupDriver.detect(subdir={subdir!r})
sandbox = BwrapSandbox(uids=UidRange({base}, 2), cgroups=cgroups)
drop_capabilities(KEEP["bwrap"])

async def run(source, seconds=10.0):
    request = RunRequest(
        runtime="bash", source=source, run_id="caps", limits=Limits(timeout_seconds=seconds)
    )
    result = await asyncio.create_task(sandbox.run(request))
    return [result.termination_reason.value, result.return_code, result.stdout.decode()]

async def main():
    results = {{
        "hello": await run("echo hello"),
        "timeout": await run("sleep 60", seconds=1.0),
        "left behind": await run("(sleep 60 &) ; echo forked"),
        "many": await run("for i in $(seq 20); do sleep 5 & done; echo started"),
    }}
    parents = sandbox.cgroups.parents.values()
    left = [str(p) for parent in parents if parent.is_dir() for p in parent.iterdir() if p.is_dir()]
    status = {{k: sorted(v) for k, v in capability_sets().items()}}
    print(json.dumps({{"results": results, "cgroups": left, "caps": status}}))

asyncio.run(main())
"""


def test_sandboxes_start_end_and_clean_up_with_only_the_kept_capabilities() -> None:
    subdir = f"voidrunner-caps-{os.getpid()}-{secrets.token_hex(3)}"
    try:
        done = subprocess.run(
            [sys.executable, "-c", SPAWNER.format(base=UID_BASE + 8, subdir=subdir)],
            capture_output=True,
            timeout=120,
            check=False,
        )
    finally:
        driver = CgroupDriver.detect(subdir=subdir)
        for parent in driver.parents.values() if driver is not None else ():
            with contextlib.suppress(OSError):
                parent.rmdir()
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    report = json.loads(done.stdout.decode().splitlines()[-1])
    assert report["caps"]["CapEff"] == sorted(KEPT)
    assert report["caps"]["CapBnd"] == sorted(KEPT)
    results = report["results"]
    assert results["hello"] == ["exit", 0, "hello\n"]
    assert results["timeout"][0] == "timeout"
    assert results["left behind"] == ["exit", 0, "forked\n"]
    assert results["many"] == ["exit", 0, "started\n"]
    assert report["cgroups"] == []
    # Nothing of theirs lives on: every process of the run was killed with its cgroup.
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                owner = entry.stat().st_uid
                state = (entry / "stat").read_bytes().rpartition(b")")[2].split()[0]
            except OSError:
                continue
            assert not (UID_BASE + 8 <= owner < UID_BASE + 10 and state != b"Z"), entry

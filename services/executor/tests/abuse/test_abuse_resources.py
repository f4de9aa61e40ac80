"""Abuse: resources. Bombs, spinners, runaway processes and exhaustion end bounded, with a reason.

Where sandbox processes are host processes, the `abuse` fixture also proves none survived.
"""

from __future__ import annotations

import time

import pytest

from sandbox_testing.abuse import Abuse
from voidrunner.executor.sandbox.types import SandboxError, TerminationReason

pytestmark = [pytest.mark.sandbox, pytest.mark.hardening(group_by="backend")]

MiB = 1024 * 1024
T = TerminationReason


def bounded_by_pids(abuse: Abuse) -> set[TerminationReason]:
    """How a process bomb may end: at the timeout, or (without a pids limit, gVisor) memory."""
    return {T.TIMEOUT} if abuse.backend.enforces_pids else {T.TIMEOUT, T.MEMORY_LIMIT}


async def test_python_fork_bomb(abuse: Abuse) -> None:
    src = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n"
    started = time.monotonic()
    result = await abuse.run(src, pids=32, timeout_seconds=1.5, memory_bytes=128 * MiB)
    assert result.termination_reason in bounded_by_pids(abuse), result
    assert time.monotonic() - started < 8


async def test_bash_fork_bomb(abuse: Abuse) -> None:
    src = ":(){ :|:& };:\nsleep 5\n"
    started = time.monotonic()
    result = await abuse.run(
        src, runtime="bash", pids=32, timeout_seconds=1.5, memory_bytes=128 * MiB
    )
    assert result.termination_reason in bounded_by_pids(abuse) | {T.OUTPUT_LIMIT}, result
    assert time.monotonic() - started < 8


async def test_a_run_that_hit_the_pids_limit_says_so(abuse: Abuse) -> None:
    src = (
        "import os, time\nkids = 0\ntry:\n    while True:\n        if os.fork() == 0:\n"
        "            time.sleep(5)\n            os._exit(0)\n        kids += 1\n"
        "except OSError:\n    pass\nprint(kids, flush=True)\n"
    )
    result = await abuse.run(src, pids=16, timeout_seconds=4, memory_bytes=256 * MiB)
    if abuse.backend.enforces_pids:
        # Today's program exits 0 after its forks fail: the limit it hit is what is reported.
        assert result.termination_reason is T.PIDS_LIMIT, result
        assert result.return_code == 0
        assert "16 processes" in result.termination_detail
    else:
        assert result.termination_reason in bounded_by_pids(abuse), result


async def test_a_seccomp_kill_is_a_security_violation(abuse: Abuse) -> None:
    # getpid through the x32 ABI: the bwrap filter kills any syscall of a foreign ABI.
    src = "import ctypes\nctypes.CDLL(None).syscall(39 | 0x40000000)\nprint('survived')\n"
    result = await abuse.run(src, timeout_seconds=5)
    if abuse.backend.name.startswith("bwrap"):
        assert result.termination_reason is T.SECURITY_VIOLATION, result
        assert (result.return_code, result.exit_signal) == (None, "SIGSYS")
        assert result.stdout == b""
    else:  # a container's filter may refuse it with an error instead: never a crash of ours
        assert result.termination_reason in {T.EXIT, T.SECURITY_VIOLATION}, result


async def test_thread_bomb(abuse: Abuse) -> None:
    src = """
import threading, time
count = 0
try:
    while count < 3000:
        threading.Thread(target=time.sleep, args=(30,), daemon=True).start()
        count += 1
except RuntimeError:
    pass
print("threads", count, flush=True)
import os
os._exit(0)
"""
    result = await abuse.run(src, pids=32, timeout_seconds=5, memory_bytes=256 * MiB)
    # Past the pids limit, forks fail: the run says it hit the limit. gVisor has none, and on a
    # loaded machine its 3,000 threads may outlast the timeout instead (seen in CI): contained too.
    contained = {T.EXIT, T.MEMORY_LIMIT, T.PIDS_LIMIT}
    if not abuse.backend.enforces_pids:
        contained.add(T.TIMEOUT)
    assert result.termination_reason in contained, result
    if result.termination_reason is T.EXIT and abuse.backend.enforces_pids:
        assert int(result.stdout.split()[1]) < 32


async def test_memory_bomb(abuse: Abuse) -> None:
    src = "chunks = []\nwhile True:\n    chunks.append(bytearray(16 * 1024 * 1024))\n"
    result = await abuse.run(src, memory_bytes=96 * MiB)
    assert result.termination_reason is T.MEMORY_LIMIT, result
    assert result.memory_usage_bytes <= 110 * MiB


async def test_memory_bomb_spread_over_processes(abuse: Abuse) -> None:
    # Each child stays under the limit; together they pass it: the limit is per run.
    src = """
import os, time
children = []
for _ in range(6):
    pid = os.fork()
    if pid == 0:
        blob = bytearray(32 * 1024 * 1024)
        time.sleep(1.5)
        os._exit(0)
    children.append(pid)
failed = 0
for pid in children:
    _, status = os.waitpid(pid, 0)
    failed += status != 0
os._exit(1 if failed else 0)
"""
    result = await abuse.run(src, memory_bytes=96 * MiB, timeout_seconds=8)
    assert result.termination_reason is T.MEMORY_LIMIT, result


async def test_cpu_spin_past_the_timeout_within_its_quota(abuse: Abuse) -> None:
    src = """
import os
for _ in range(3):
    if os.fork() == 0:
        break
while True:
    pass
"""
    started = time.monotonic()
    result = await abuse.run(src, timeout_seconds=1.5, cpu=0.5)
    elapsed = time.monotonic() - started
    assert result.termination_reason is T.TIMEOUT, result
    assert result.return_code is None
    assert elapsed < 6
    # Four spinning processes on a 0.5-CPU quota: at most ~0.75 s of CPU in 1.5 s.
    assert result.cpu_time_ms <= 1.5 * 0.5 * 1000 * 1.5 + 300, result.cpu_time_ms


async def test_sleep_past_the_timeout(abuse: Abuse) -> None:
    started = time.monotonic()
    result = await abuse.run("import time\ntime.sleep(3600)\n", timeout_seconds=1)
    assert result.termination_reason is T.TIMEOUT
    assert result.return_code is None
    assert time.monotonic() - started < 5


async def test_daemon_double_fork_setsid_dies_with_the_run(abuse: Abuse) -> None:
    # The classic daemon: fork, setsid, fork again, keep the output pipes open, outlive the
    # parent. The run must end when its main process does, and the daemon with it.
    src = """
import os, sys, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.chdir("/")
        for _ in range(100):
            time.sleep(0.1)
        print("DAEMON STILL ALIVE", flush=True)
        os._exit(0)
    os._exit(0)
print("parent done", flush=True)
"""
    started = time.monotonic()
    result = await abuse.run(src, timeout_seconds=20)
    assert result.termination_reason is T.EXIT, result
    assert result.return_code == 0
    assert result.stdout == b"parent done\n"
    assert time.monotonic() - started < 8, "the run waited for the daemon"


async def test_processes_ignoring_sigterm_are_killed(abuse: Abuse) -> None:
    src = """
import os, signal, time
for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1):
    signal.signal(sig, signal.SIG_IGN)
for _ in range(3):
    if os.fork() == 0:
        os.setsid()
        break
print("stubborn", os.getpid(), flush=True)
while True:
    time.sleep(0.05)
"""
    started = time.monotonic()
    result = await abuse.run(src, timeout_seconds=1)
    assert result.termination_reason is T.TIMEOUT, result
    assert result.stdout.count(b"stubborn") == 4
    assert time.monotonic() - started < 8


async def test_zombie_storm(abuse: Abuse) -> None:
    src = """
import os, time
count = 0
while count < 300:
    try:
        pid = os.fork()
    except OSError:
        break
    if pid == 0:
        os._exit(0)
    count += 1
print("zombies", count, flush=True)
time.sleep(0.3)
"""
    result = await abuse.run(src, pids=48, timeout_seconds=8, memory_bytes=256 * MiB)
    # Past the pids limit, forks fail: the run says it hit the limit. gVisor has none, and on a
    # loaded machine its 3,000 threads may outlast the timeout instead (seen in CI): contained too.
    contained = {T.EXIT, T.MEMORY_LIMIT, T.PIDS_LIMIT}
    if not abuse.backend.enforces_pids:
        contained.add(T.TIMEOUT)
    assert result.termination_reason in contained, result
    if abuse.backend.enforces_pids:
        assert int(result.stdout.split()[1]) < 48, result.stdout


async def test_file_descriptor_exhaustion(abuse: Abuse) -> None:
    src = """
import os, resource, socket
fds = []
try:
    while len(fds) < 100000:
        fds.append(os.open("/dev/null", os.O_RDONLY))
except OSError as exc:
    print("stopped", len(fds), exc.errno)
for label, make in [("pipe", os.pipe), ("socketpair", socket.socketpair)]:
    try:
        make()
        print("ALLOWED", label)
    except OSError:
        print("denied", label)
try:
    resource.setrlimit(resource.RLIMIT_NOFILE, (1 << 20, 1 << 20))
    print("ALLOWED raise-limit")
except (OSError, ValueError):
    print("denied raise-limit")
"""
    result = await abuse.run(src, max_open_files=64)
    assert result.termination_reason is T.EXIT, result
    words = result.stdout.split()
    assert words[0] == b"stopped", result.stdout
    assert int(words[1]) <= 64
    assert b"ALLOWED" not in result.stdout, result.stdout


async def test_filling_tmp_and_shared_memory(abuse: Abuse) -> None:
    # /tmp stops at its size cap; the other writable tmpfs (/dev/shm, and /sandbox in a
    # container) are bounded by the cap or the run's memory limit.
    src = """
import os
def fill(folder, limit=256):
    written = 0
    try:
        with open(os.path.join(folder, "fill"), "wb") as f:
            while written < limit:
                f.write(b"z" * (1 << 20))
                f.flush()
                written += 1
    except OSError as exc:
        return written, exc.errno
    return written, 0
print("tmp", *fill("/tmp"), flush=True)
os.unlink("/tmp/fill")
for folder in ["/dev/shm", "/sandbox", "/var/tmp", "/dev"]:
    if os.access(folder, os.W_OK):
        print(folder, *fill(folder), flush=True)
"""
    result = await abuse.run(src, tmp_bytes=8 * MiB, memory_bytes=128 * MiB, timeout_seconds=8)
    assert result.termination_reason in {T.EXIT, T.MEMORY_LIMIT}, result
    lines = [line.split() for line in result.stdout.decode().splitlines()]
    assert lines[0][0] == "tmp", result
    assert int(lines[0][1]) <= 8, "/tmp grew past its cap"
    for folder, written, _errno in lines[1:]:
        assert int(written) <= 128, f"{folder} grew past the memory limit"


async def test_huge_argv_and_environment_inside(abuse: Abuse) -> None:
    src = """
import os, subprocess
for label, argv, env in [
    ("one-huge-arg", ["/bin/true", "a" * (256 * 1024)], None),
    ("many-args", ["/bin/true"] + ["b" * 1000] * 20000, None),
    ("huge-env", ["/bin/true"], {"BIG": "c" * (256 * 1024)}),
]:
    try:
        subprocess.run(argv, env=env, check=True)
        print("ran", label)
    except OSError as exc:
        print("refused", label, exc.errno)
"""
    result = await abuse.run(src)
    assert result.termination_reason is T.EXIT, result
    assert result.stdout.count(b"refused") == 3, result.stdout


async def test_huge_or_hostile_request_environment_is_refused(abuse: Abuse) -> None:
    # The task's environment travels on bwrap's command line and in the launcher's payload: a
    # huge one, a NUL or a name that is not a name are refused before anything starts.
    for env in (
        {"BIG": "d" * (512 * 1024)},
        {"NUL": "a\0b"},
        {"A=B": "x"},
        {"--bind": "/"},
        {f"V{i}": "e" * 100 for i in range(2000)},
    ):
        with pytest.raises(SandboxError):
            await abuse.run("print('must not run')", env=env)
    # Values that look like options stay values.
    result = await abuse.run(
        "import os\nprint(os.environ['X'], os.access('/', os.W_OK))",
        env={"X": "--bind / / --unshare-none"},
    )
    assert result.stdout == b"--bind / / --unshare-none False\n"


async def test_huge_source_and_stdin(abuse: Abuse) -> None:
    filler = "#" + "f" * 1000 + "\n"
    src = filler * (8 * 1024) + "import sys\nprint(len(sys.stdin.buffer.read()))\n"
    result = await abuse.run(src, stdin=b"s" * (16 * MiB), timeout_seconds=20)
    assert result.termination_reason is T.EXIT, result
    assert result.stdout == b"%d\n" % (16 * MiB)

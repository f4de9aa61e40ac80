"""Conformance: nothing one run leaves is visible to the next (the warm pool's promise: each
sandbox started ahead of demand serves exactly one run, and a run prepared while another ran
sees nothing of it).

The first run leaves everything it can: a file in its work dir and in /dev/shm, a detached
process, a SysV message queue, open descriptors, its environment, state in the interpreter
(builtins, sys, sys.modules, a module's globals), and prints its random and hash seeds. The next
run looks for every one of them.
"""

from __future__ import annotations

import secrets

import pytest

from sandbox_testing.conformance import Backend, run
from voidrunner.executor.sandbox.types import RunResult, TerminationReason

pytestmark = pytest.mark.sandbox

LEAVE = """
import builtins, ctypes, os, random, subprocess, sys, types
token = sys.stdin.readline().strip()[::-1]
open("/tmp/left-" + token, "w").write(token)
try:
    open("/dev/shm/left-" + token, "w").write(token)
except OSError:
    pass
sleeper = subprocess.Popen(["bash", "-c", "sleep 30; true", token], start_new_session=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
for _ in range(200):  # until it is bash (not yet a fork of this interpreter)
    if token.encode() in open(f"/proc/{sleeper.pid}/cmdline", "rb").read():
        break
    __import__("time").sleep(0.01)
libc = ctypes.CDLL(None, use_errno=True)
print("msgget", libc.msgget(0x5652, 0o1666))          # IPC_CREAT | 0666
kept = [os.open("/tmp/left-" + token, os.O_RDONLY) for _ in range(3)]
os.environ["LEFT_BEHIND"] = token
builtins.left_behind = token
sys.left_behind = token
sys.modules["left_behind"] = types.ModuleType("left_behind")
types.left_behind = token
print("seeds", random.getrandbits(64), hash("voidrunner"))
print("fds", sorted(os.listdir("/proc/self/fd")))
"""

LOOK = """
import builtins, ctypes, gc, os, random, sys, types
token = sys.stdin.readline().strip()[::-1]
found = []
for root in ("/tmp", "/dev/shm"):
    try:
        found += [root + "/" + n for n in os.listdir(root) if token in n]
    except OSError:
        pass
for pid in [p for p in os.listdir("/proc") if p.isdigit()]:
    try:
        if token.encode() in open(f"/proc/{pid}/cmdline", "rb").read():
            found.append("process " + pid)
    except OSError:
        pass
libc = ctypes.CDLL(None, use_errno=True)
if libc.msgget(0x5652, 0o666) != -1:
    found.append("message queue")
if token in os.environ.values() or "LEFT_BEHIND" in os.environ:
    found.append("environment")
for place in (builtins, sys, types):
    if hasattr(place, "left_behind"):
        found.append("interpreter: " + place.__name__)
if "left_behind" in sys.modules:
    found.append("sys.modules")
mine = globals()
for obj in gc.get_objects():
    if isinstance(obj, dict) and obj is not mine and token in obj.values():
        found.append("an object holding the token")
        break
print("found", found)
print("seeds", random.getrandbits(64), hash("voidrunner"))
print("fds", sorted(os.listdir("/proc/self/fd")))
"""


def _why(result: RunResult) -> str:
    # A string, not the result itself: pytest shortens an object's repr in the failure message,
    # and a rare failure here must show all the run printed.
    return (
        f"{result.termination_reason.value} ({result.termination_detail}) after "
        f"{result.execution_time_ms} ms (CPU {result.cpu_time_ms} ms)\n"
        f"stdout: {result.stdout!r}\nstderr: {result.stderr!r}"
    )


def _line(stdout: bytes, word: str) -> str:
    return next(ln for ln in stdout.decode().splitlines() if ln.startswith(word + " "))


async def test_nothing_one_run_leaves_reaches_the_next(backend: Backend) -> None:
    token = f"vrleft{secrets.token_hex(8)}"
    # The token travels reversed, so it is in neither program's source.
    stdin = token[::-1].encode() + b"\n"
    left = await run(backend.sandbox, LEAVE, stdin=stdin, timeout_seconds=10)
    assert left.termination_reason is TerminationReason.EXIT, _why(left)
    assert left.return_code == 0, left.stderr
    msgget = _line(left.stdout, "msgget")
    seen = [await run(backend.sandbox, LOOK, stdin=stdin, timeout_seconds=10) for _ in range(3)]
    for result in seen:
        assert result.termination_reason is TerminationReason.EXIT, _why(result)
        assert result.return_code == 0, result.stderr
        assert _line(result.stdout, "found") == "found []", (msgget, result.stdout)
        # The leaving run held three more descriptors; none of them (nor any other) came along.
        assert _line(result.stdout, "fds") == _line(seen[0].stdout, "fds")
    seeds = {_line(r.stdout, "seeds") for r in [left, *seen]}
    assert len(seeds) == 4, f"random or hash seeds repeat between runs: {seeds}"


async def test_the_probes_find_what_a_run_leaves(backend: Backend) -> None:
    # The positive control: looking within the run that left everything finds every kind.
    token = f"vrleft{secrets.token_hex(8)}"
    stdin = token[::-1].encode() + b"\n"
    both = LEAVE + "\nsys.stdin = __import__('io').StringIO(token[::-1] + '\\n')\n" + LOOK
    result = await run(backend.sandbox, both, stdin=stdin, timeout_seconds=10)
    assert result.termination_reason is TerminationReason.EXIT, _why(result)
    found = _line(result.stdout, "found")
    for kind in (
        "/tmp/left-",
        "process",
        "message queue",
        "environment",
        "interpreter: builtins",
        "interpreter: sys",
        "interpreter: types",
        "sys.modules",
        "an object holding",
    ):
        assert kind in found, (kind, found)

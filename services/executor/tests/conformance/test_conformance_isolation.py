"""Conformance: isolation (network, filesystem, identity, privileges, kernel)."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from sandbox_testing.conformance import Backend, run
from voidrunner.executor.sandbox.types import Sandbox, TerminationReason

pytestmark = pytest.mark.sandbox

MiB = 1024 * 1024


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A TCP listener on the host's loopback, with a working connection as positive control."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    server.settimeout(0.2)
    with socket.create_connection(server.getsockname(), timeout=2):
        conn, _ = server.accept()  # the host can connect: "refused" below means something
        conn.close()
    yield server
    server.close()


async def test_network_is_refused(sandbox: Sandbox, listener: socket.socket) -> None:
    host, port = listener.getsockname()
    src = f"""
import socket
for target in [("{host}", {port}), ("::1", {port}), ("10.0.0.1", 80)]:
    try:
        socket.create_connection(target, timeout=1).close()
        print("CONNECTED", target)
    except OSError as exc:
        print("refused", target, type(exc).__name__)
"""
    result = await run(sandbox, src)
    assert result.termination_reason is TerminationReason.EXIT
    assert b"CONNECTED" not in result.stdout
    assert result.stdout.count(b"refused") == 3
    with pytest.raises(TimeoutError):
        listener.accept()  # nothing from the sandbox reached the listener


async def test_system_dirs_are_read_only(sandbox: Sandbox) -> None:
    src = """
import os
for path in ["/usr/x", "/etc/x", "/bin/x", "/x", "/root/x", "/usr/bin/python3"]:
    try:
        with open(path, "a") as f:
            f.write("x")
        print("WROTE", path)
    except OSError:
        print("denied", path)
"""
    result = await run(sandbox, src)
    assert b"WROTE" not in result.stdout, result.stdout
    assert result.stdout.count(b"denied") == 6


async def test_global_kernel_settings_are_not_writable(sandbox: Sandbox) -> None:
    # Writes back the value it read, so a failing run changes nothing on the host. (A sandbox user
    # mapped to host root passes /proc/sys owner checks without capabilities: core_pattern would
    # then let it run a program as real root.)
    src = """
for path in ["/proc/sys/kernel/core_pattern", "/proc/sys/vm/overcommit_memory"]:
    try:
        value = open(path).read()
        with open(path, "w") as f:
            f.write(value)
        print("WROTE", path)
    except OSError as exc:
        print("denied", path, type(exc).__name__)
"""
    result = await run(sandbox, src)
    assert b"WROTE" not in result.stdout, result.stdout
    assert result.stdout.count(b"denied") == 2


async def test_tmp_is_writable_up_to_its_cap(sandbox: Sandbox) -> None:
    src = """
import errno, os, tempfile
tmp, total = tempfile.gettempdir(), 0
try:
    for i in range(64):
        with open(os.path.join(tmp, f"f{i}"), "wb") as f:
            f.write(b"x" * (1024 * 1024))
        total += 1
    print("total", total, "no-error")
except OSError as exc:
    print("total", total, errno.errorcode.get(exc.errno, exc.errno))
"""
    result = await run(sandbox, src, tmp_bytes=16 * MiB)
    words = result.stdout.decode().split()
    assert words[0] == "total", result
    assert 8 <= int(words[1]) <= 16
    assert words[2] in ("ENOSPC", "EFBIG", "EDQUOT")


async def test_runs_as_an_unprivileged_user_without_capabilities(sandbox: Sandbox) -> None:
    src = """
import os
caps = [l.split()[1] for l in open("/proc/self/status") if l.startswith(("CapEff", "CapPrm"))]
print(os.getuid(), os.geteuid(), os.getgid(), *caps)
"""
    result = await run(sandbox, src)
    uid, euid, gid, eff, prm = result.stdout.decode().split()
    assert "0" not in (uid, euid, gid)
    assert int(eff, 16) == 0
    assert int(prm, 16) == 0


async def test_privileged_syscalls_are_refused(sandbox: Sandbox) -> None:
    src = """
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
print("unshare", libc.unshare(0x10000000))  # CLONE_NEWUSER
print("mount", libc.mount(b"none", b"/tmp", b"tmpfs", 0, None))
"""
    result = await run(sandbox, src)
    assert result.stdout == b"unshare -1\nmount -1\n", result


async def test_sandbox_does_not_see_host_processes(sandbox: Sandbox) -> None:
    result = await run(
        sandbox, "import os\nprint(sorted(int(p) for p in os.listdir('/proc') if p.isdigit()))"
    )
    visible = eval(result.stdout)  # noqa: S307 - a list of ints we printed ourselves
    assert len(visible) < 10


async def test_gvisor_really_runs_under_runsc(backend: Backend) -> None:
    if backend.name != "docker-runsc":
        pytest.skip("only docker-runsc runs gVisor")
    result = await run(backend.sandbox, "import os\nprint(os.uname().release)")
    assert result.stdout == b"4.4.0\n", "gVisor reports kernel 4.4.0; anything else is runc"

"""Small process facts the embedded servers need: free ports, pid liveness, leftover cleanup."""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import time
from pathlib import Path

# Ports are picked below the kernel's ephemeral range (net.ipv4.ip_local_port_range): a port
# handed out by bind(0) was free only until the next outgoing connection or bind(0) on the
# host, any of which (another test session's, this one's own clients') could take it before the
# server bound it, and a server that then failed to bind left wait_for_port greeting a stranger.
_LOWEST_PORT = 10000
_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")


def _ephemeral_start() -> int:
    try:
        return int(_RANGE_FILE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago, from below the ephemeral range (so
    no outgoing connection or bind(0) takes it before its server binds it); a port from bind(0)
    when that range leaves too little below it."""
    span = _ephemeral_start() - _LOWEST_PORT
    tries = 50 if span >= 1000 else 0
    for _ in range(tries):
        port = _LOWEST_PORT + secrets.randbelow(span)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        bound: int = s.getsockname()[1]
        return bound


def pid_alive(pid: int) -> bool:
    """True when a process with `pid` exists (and is not a zombie)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError, ProcessLookupError):
        return False
    return state != "Z"


def cmdline(pid: int) -> str:
    """The process's command line as one string ('' when gone)."""
    try:
        return (
            Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        )
    except (FileNotFoundError, ProcessLookupError):
        return ""


def terminate(pid: int, *, grace: float = 5.0, group: bool = False) -> None:
    """SIGTERM `pid` (or its process group), then SIGKILL after `grace` seconds."""
    send = os.killpg if group else os.kill
    with contextlib.suppress(ProcessLookupError, PermissionError):
        send(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    # Most processes are gone within milliseconds: look again soon, then less and less often
    # (a fixed 50 ms added that much to every test's NATS server stop).
    pause = 0.001
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return
        time.sleep(pause)
        pause = min(pause * 2, 0.05)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        send(pid, signal.SIGKILL)


def kill_leftover(pid_file: Path, marker: str) -> bool:
    """Stop a process recorded in `pid_file` by an earlier run that was killed.

    Only a live process whose command line contains `marker` is touched, so a recycled pid of an
    unrelated program is left alone. Returns True when something was stopped.
    """
    try:
        pid = int(pid_file.read_text().split()[0])
    except (FileNotFoundError, ValueError, IndexError):
        return False
    stopped = False
    if pid_alive(pid) and marker in cmdline(pid):
        terminate(pid, grace=5.0)
        stopped = True
    pid_file.unlink(missing_ok=True)
    return stopped


def wait_for_port(host: str, port: int, timeout: float) -> None:
    """Block until something accepts TCP connections on host:port."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                msg = f"nothing listened on {host}:{port} within {timeout}s"
                raise TimeoutError(msg) from None
            time.sleep(0.02)

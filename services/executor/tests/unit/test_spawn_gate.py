"""The gate in front of bwrap: the command starts only when told, never when our ends close."""

from __future__ import annotations

import subprocess
from pathlib import Path

from voidrunner.executor.sandbox._spawn import Gate


def spawn(gate: Gate, marker: Path) -> subprocess.Popen[bytes]:
    assert gate.fd is not None
    fd = gate.fd
    probe = f"touch {marker}; test -e /proc/self/fd/{fd} && echo gate-open || echo gate-closed"
    proc = subprocess.Popen(
        gate.command("/bin/bash", ["/bin/sh", "-c", probe]), pass_fds=[fd], stdout=subprocess.PIPE
    )
    gate.handed_over()
    return proc


def test_the_command_never_starts_when_the_executor_dies_first(tmp_path: Path) -> None:
    gate = Gate()
    proc = spawn(gate, tmp_path / "ran")
    gate.close()  # the executor died: all of our ends are gone
    out, _ = proc.communicate(timeout=10)
    assert (proc.returncode, out) == (125, b"")
    assert not (tmp_path / "ran").exists()


def test_the_command_starts_once_opened_without_the_gate_fd(tmp_path: Path) -> None:
    gate = Gate()
    proc = spawn(gate, tmp_path / "ran")
    try:
        gate.open()
        out, _ = proc.communicate(timeout=10)
    finally:
        gate.close()
    assert proc.returncode == 0
    assert (tmp_path / "ran").exists()
    assert out == b"gate-closed\n"

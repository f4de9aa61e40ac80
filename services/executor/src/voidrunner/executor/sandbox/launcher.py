"""The bwrap backend's in-sandbox launcher (launcher.c): built once per process, reports parsed.

    binary = launcher_binary()              # bytes of the compiled vr-launch (cached)
    parse_report(b"signal 9\\n")            # LaunchReport(return_code=None, signal=9)

The binary travels into each sandbox like a compiled artifact (a sealed memfd bound read-only),
so nothing is installed on the host. It is compiled with the host's C compiler the first time a
process asks for it; `VOIDRUNNER_SANDBOX_LAUNCHER` (an operator setting passed in by the
executor) may name a prebuilt binary instead, for hosts without a compiler.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from voidrunner.executor.sandbox.types import SandboxError

__all__ = ["LaunchReport", "launcher_binary", "parse_report"]

_MAX_BINARY = 4 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class LaunchReport:
    """How the program ended, as the launcher saw it."""

    return_code: int | None
    signal: int | None


def parse_report(data: bytes | None) -> LaunchReport | None:
    """The launcher's one-line report, or None when none (or a malformed one) arrived."""
    if not data:
        return None
    kind, _, value = data.strip().partition(b" ")
    if not value.isdigit() or len(value) > 4:
        return None
    number = int(value)
    if kind == b"exit" and number <= 255:
        return LaunchReport(return_code=number, signal=None)
    if kind == b"signal" and 0 < number < 128:
        return LaunchReport(return_code=None, signal=number)
    return None


def launcher_binary(prebuilt: Path | None = None) -> bytes:
    """The launcher's executable bytes: `prebuilt` when given, else compiled from launcher.c.

    Raises SandboxError naming what is missing (no C compiler, a failed build, a bad file).
    """
    if prebuilt is not None:
        try:
            data = prebuilt.read_bytes()
        except OSError as exc:
            raise SandboxError(f"cannot read the sandbox launcher {prebuilt}: {exc}") from exc
        if not data.startswith(b"\x7fELF") or len(data) > _MAX_BINARY:
            raise SandboxError(f"{prebuilt} is not an executable the launcher can be")
        return data
    return _compiled()


@functools.cache
def _compiled() -> bytes:
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        raise SandboxError(
            "the bwrap backend builds its launcher with a C compiler: install gcc and libc6-dev "
            "(or set VOIDRUNNER_SANDBOX_LAUNCHER to a prebuilt vr-launch)"
        )
    source = resources.files(__package__).joinpath("launcher.c").read_bytes()
    with tempfile.TemporaryDirectory(prefix="vr-launch-") as tmp:
        src, out = Path(tmp) / "launcher.c", Path(tmp) / "vr-launch"
        src.write_bytes(source)
        try:
            done = subprocess.run(
                [compiler, "-O2", "-Wall", "-Werror", "-o", str(out), str(src)],
                capture_output=True,
                timeout=60,
                check=False,
                env={"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C"},
            )
        except (OSError, subprocess.SubprocessError) as exc:
            raise SandboxError(f"cannot build the sandbox launcher: {exc}") from exc
        if done.returncode != 0:
            message = done.stderr.decode(errors="replace").strip()[-500:]
            raise SandboxError(f"cannot build the sandbox launcher: {message}")
        return out.read_bytes()

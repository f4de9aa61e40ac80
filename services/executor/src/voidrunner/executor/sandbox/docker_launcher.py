"""The in-container launcher of the docker backend, the payload it reads and the trailer it writes.

Nothing from the host is ever written into a directory the container can write, and nothing needs a
bind mount (so remote engines work): the container's command is a small Python launcher, and the
host sends everything over the container's stdin, in this order:

    b"%09d\\n" % len(header)        header length
    header                          NUL-separated fields, see `encode_payload`
    file contents                   the source (and a compiled artifact), concatenated
    the run's stdin                 everything after that is the program's own stdin

The launcher, running as uid 65534 with no capabilities, writes the files into the container's own
tmpfs (/sandbox), forks and execs the program in /tmp with exactly the header's environment, waits
for it with wait4 (CPU time and peak RSS come from its rusage), kills whatever the program left
behind (`kill(-1)` as the namespace's pid 1, again every 20 ms until it has reaped the last), and
then writes a trailer to its stderr:

    MARKER nonce NUL b"exit signal cpu_ns maxrss_bytes artifact_len wall_ns refused\\n" artifact

(`refused`: forks the container's pids cgroup refused at its limit, where the runtime shows it.)

The nonce travels only on stdin, which the launcher has consumed before the program starts, so the
program cannot forge a trailer without guessing 128 random bits. The trailer only carries the
program's own statistics (and a compile step's artifact): the exit status and the OOM verdict the
backend reports come from the engine, not from here. SIGTERM to the launcher (what the backend sends
on timeout, cancellation or an output flood) kills the program at once and still writes the trailer.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = [
    "LAUNCHER_ARGV",
    "MARKER",
    "PayloadFile",
    "Trailer",
    "TrailerSplitter",
    "encode_payload",
]

MARKER = b"\0VOIDRUNNER-TRAILER:"
_NONCE = re.compile(rb"[0-9a-f]{32}")

# Kept free of imports beyond built-in modules (os, signal, time) on the run path: every import
# costs start-up time, ~20x more under gVisor.
_LAUNCHER = r"""
import os, signal, time
def readn(n):
    buf = bytearray()
    while len(buf) < n:
        chunk = os.read(0, min(n - len(buf), 1 << 20))
        if not chunk:
            os.write(2, b"voidrunner launcher: payload cut short\n")
            os._exit(125)
        buf += chunk
    return bytes(buf)
def writeall(fd, data):
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
fields = readn(int(readn(10))).split(b"\0")
nonce, cwd, artifact = fields[0], fields[1], fields[2]
max_artifact, nfiles = int(fields[3]), int(fields[4])
i = 5
for _ in range(nfiles):
    path, mode, size = fields[i], int(fields[i + 1], 8), int(fields[i + 2])
    i += 3
    parent = os.path.dirname(path)
    if parent:
        os.makedirs(parent, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    writeall(fd, readn(size))
    os.close(fd)
nargv = int(fields[i])
argv = fields[i + 1:i + 1 + nargv]
i += 1 + nargv
env = {fields[j]: fields[j + 1] for j in range(i + 1, i + 1 + 2 * int(fields[i]), 2)}
def stop(signum, frame):
    # kill(-1) reaches only this pid namespace, and only because we are its init.
    if os.getpid() != 1:
        return
    try:
        os.kill(-1, signal.SIGKILL)
    except OSError:
        pass
signal.signal(signal.SIGTERM, stop)
began = time.monotonic_ns()
pid = os.fork()
if pid == 0:
    try:
        os.chdir(cwd)
        os.execvpe(argv[0], argv, env)
    except OSError as exc:
        os.write(2, b"cannot run " + argv[0] + b": " + (exc.strerror or "").encode() + b"\n")
    os._exit(127)
_, status, usage = os.wait4(pid, 0)
wall_ns = time.monotonic_ns() - began
stop(0, None)
# A child forked while kill(-1) runs may miss it (Linux's fork gives up on a pending kill, gVisor
# may not: a CI run under gVisor whose program had finished waited here until its timeout). So
# kill again every 20 ms until the last child is reaped.
signal.signal(signal.SIGALRM, stop)
signal.setitimer(signal.ITIMER_REAL, 0.02, 0.02)
while True:
    try:
        os.wait()
    except ChildProcessError:
        break
signal.setitimer(signal.ITIMER_REAL, 0)
code = os.waitstatus_to_exitcode(status)
data = b""
if artifact and code == 0:
    # The artifact (a file or a directory) as a tar stream; links stay links, which the host
    # refuses: nothing is followed. Imported only here, for compile steps.
    import io, tarfile
    buffer = io.BytesIO()
    try:
        with tarfile.open(fileobj=buffer, mode="w") as archive:
            name = os.fsdecode(artifact)
            archive.add(name, arcname=os.path.basename(name))
        data = buffer.getvalue()
    except (OSError, tarfile.TarError):
        data = b""
    if len(data) > max_artifact:
        data = b""
def refused_forks():
    # The container's own pids cgroup (runc mounts it read-only; gVisor has none): forks that
    # failed at the limit. A kernel file: the program cannot forge it.
    for path in ("/sys/fs/cgroup/pids/pids.events", "/sys/fs/cgroup/pids.events"):
        try:
            with open(path) as events:
                for line in events:
                    key, _, value = line.partition(" ")
                    if key == "max":
                        return int(value)
        except (OSError, ValueError):
            continue
    return 0
cpu_ns = int((usage.ru_utime + usage.ru_stime) * 1e9)
stats = "%d %d %d %d %d %d %d\n" % (
    code if code >= 0 else -1,
    -code if code < 0 else 0,
    cpu_ns,
    usage.ru_maxrss * 1024,
    len(data),
    wall_ns,
    refused_forks(),
)
writeall(2, b"\0VOIDRUNNER-TRAILER:" + nonce + b"\0" + stats.encode() + data)
os._exit(code if code >= 0 else 128 - code)
"""

# -I/-S: no environment variables, user site or site-packages can change the launcher; -B: the
# root file system is read-only anyway.
LAUNCHER_ARGV = ("python3", "-I", "-S", "-B", "-c", _LAUNCHER)


@dataclass(frozen=True, slots=True)
class PayloadFile:
    """A file the launcher creates inside the container before the program starts."""

    path: str
    data: bytes
    mode: int = 0o444


def _field(value: str | bytes) -> bytes:
    raw = value.encode("utf-8") if isinstance(value, str) else value
    if b"\0" in raw:
        raise ValueError("payload fields must not contain NUL bytes")
    return raw


def encode_payload(
    *,
    nonce: str,
    argv: Sequence[str],
    env: Mapping[str, str],
    files: Sequence[PayloadFile],
    cwd: str,
    artifact: str = "",
    max_artifact: int = 0,
    stdin: bytes = b"",
) -> bytes:
    """Everything the launcher reads from stdin, the run's own stdin last.

    Raises ValueError when a field contains a NUL byte (no argument or variable can hold one).
    """
    if not _NONCE.fullmatch(nonce.encode()):
        raise ValueError("nonce must be 32 lowercase hex digits")
    fields: list[bytes] = [_field(nonce), _field(cwd), _field(artifact)]
    fields += [b"%d" % max_artifact, b"%d" % len(files)]
    for item in files:
        fields += [_field(item.path), b"%o" % item.mode, b"%d" % len(item.data)]
    fields += [b"%d" % len(argv), *(_field(arg) for arg in argv)]
    fields.append(b"%d" % len(env))
    for key, value in env.items():
        fields += [_field(key), _field(value)]
    header = b"\0".join(fields)
    return b"%09d\n" % len(header) + header + b"".join(f.data for f in files) + stdin


@dataclass(frozen=True, slots=True)
class Trailer:
    """What the launcher reported about the program once it ended."""

    exit_code: int | None
    signal: int | None
    cpu_time_ns: int
    peak_memory_bytes: int
    artifact: bytes
    # From the program's start to its end: the run alone, without the container's start.
    wall_time_ns: int = 0
    # Forks refused at the pids limit (0 where the runtime does not say, e.g. gVisor).
    refused_forks: int = 0


class TrailerSplitter:
    """Separates the launcher's trailer from the program's stderr, chunk by chunk.

    `feed` returns the bytes that belong to the program and may be streamed now. Only a tail that
    could be the beginning of the marker is held back (it starts with a NUL byte, so ordinary text
    never is); `finish` releases it when the stream ends without a trailer.
    """

    def __init__(self, nonce: str, max_artifact: int = 0) -> None:
        self._marker = MARKER + nonce.encode() + b"\0"
        self._limit = max_artifact + 4096
        self._held = b""
        self._trailer: bytearray | None = None
        self.overflow = False

    def feed(self, data: bytes) -> bytes:
        """The program's part of `data`; the trailer part is kept for `trailer()`."""
        if self._trailer is not None:
            self._keep(data)
            return b""
        data = self._held + data
        self._held = b""
        at = data.find(self._marker)
        if at >= 0:
            self._trailer = bytearray()
            self._keep(data[at + len(self._marker) :])
            return data[:at]
        for size in range(min(len(self._marker) - 1, len(data)), 0, -1):
            if self._marker.startswith(data[-size:]):
                self._held = data[-size:]
                return data[:-size]
        return data

    def _keep(self, data: bytes) -> None:
        assert self._trailer is not None
        if len(self._trailer) + len(data) > self._limit:
            self.overflow = True
            return
        self._trailer += data

    def finish(self) -> bytes:
        """The held-back tail, when the stream ended without the marker completing."""
        held, self._held = self._held, b""
        return held

    def trailer(self) -> Trailer | None:
        """The parsed trailer, or None when none (or a malformed one) arrived."""
        if self._trailer is None or self.overflow:
            return None
        line, sep, rest = bytes(self._trailer).partition(b"\n")
        parts = line.split()
        if not sep or len(parts) != 7 or not all(p.lstrip(b"-").isdigit() for p in parts):
            return None
        code, sig, cpu_ns, peak, size, wall_ns, refused = (int(p) for p in parts)
        if size != len(rest):
            return None
        return Trailer(
            exit_code=code if code >= 0 else None,
            signal=sig or None,
            cpu_time_ns=cpu_ns,
            peak_memory_bytes=peak,
            artifact=rest,
            wall_time_ns=wall_ns,
            refused_forks=refused,
        )

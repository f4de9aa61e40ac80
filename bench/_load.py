"""Load generators: REST clients for the pipeline, the sandbox floors, and wrk for the read API.

Every generator reports the CPU it used itself (`load_cpu_s`), so a run can show that the load
generator did not starve the system under test on a machine they share.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import resource
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from voidrunner.executor.sandbox.bwrap import BwrapSandbox
from voidrunner.executor.sandbox.types import RunRequest, TerminationReason

HELLO = 'print("hello")'
SANDBOX_TMP = "/" + "tmp"  # the sandbox's own tmpfs, never the host's
BARE_BWRAP = [
    *("--unshare-all", "--die-with-parent", "--new-session", "--ro-bind", "/usr", "/usr"),
    *("--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64"),
    *("--symlink", "usr/bin", "/bin", "--symlink", "usr/sbin", "/sbin"),
    *("--ro-bind", "/etc/alternatives", "/etc/alternatives", "--proc", "/proc", "--dev", "/dev"),
    *("--tmpfs", SANDBOX_TMP, "--chdir", SANDBOX_TMP, "--clearenv"),
    *(
        "--setenv",
        "PATH",
        "/usr/bin:/bin",
        "--setenv",
        "HOME",
        SANDBOX_TMP,
        "--uid",
        "65534",
        "--gid",
        "65534",
        "--cap-drop",
        "ALL",
    ),
    *("--hostname", "sandbox", "/usr/bin/python3", "-c", HELLO),
]
WRK_SCRIPT = Path(__file__).with_name("wrk_get.lua")


@dataclass
class Sample:
    """Latencies (ms) of successful operations over a measured window."""

    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    seconds: float = 0.0
    load_cpu_s: float = 0.0
    notes: dict[str, object] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return len(self.latencies_ms) / self.seconds if self.seconds else 0.0


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# -- the floor: bubblewrap without services --------------------------------------------------------


def bare_bwrap(n: int) -> Sample:
    """The platform notes' bare bwrap invocation (no cgroups, no seccomp), one at a time."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        raise RuntimeError("bwrap is not installed")
    argv = [bwrap, *BARE_BWRAP]
    subprocess.run(argv, check=True, capture_output=True)  # warm-up
    sample = Sample()
    for _ in range(n):
        started = time.perf_counter()
        done = subprocess.run(argv, check=True, capture_output=True)
        sample.latencies_ms.append((time.perf_counter() - started) * 1000)
        if done.stdout != b"hello\n":
            sample.errors += 1
    return sample


def _ok(result: object) -> bool:
    reason = getattr(result, "termination_reason", None)
    return reason is TerminationReason.EXIT and getattr(result, "return_code", None) == 0


async def sandbox_sequential(sandbox: BwrapSandbox, n: int) -> Sample:
    """Our BwrapSandbox alone (cgroups, seccomp, rlimits), one run at a time."""
    request = RunRequest(runtime="python", source=HELLO, run_id="bench")
    await sandbox.run(request)
    sample = Sample()
    for _ in range(n):
        started = time.perf_counter()
        result = await sandbox.run(request)
        if _ok(result):
            sample.latencies_ms.append((time.perf_counter() - started) * 1000)
        else:
            sample.errors += 1
    return sample


async def sandbox_throughput(sandbox: BwrapSandbox, concurrency: int, seconds: float) -> Sample:
    """Runs per second of BwrapSandbox alone with `concurrency` runs always in flight."""
    sample = Sample()
    request = RunRequest(runtime="python", source=HELLO, run_id="bench")
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            result = await sandbox.run(request)
            if _ok(result):
                sample.latencies_ms.append((time.perf_counter() - started) * 1000)
            else:
                sample.errors += 1

    started = time.perf_counter()
    cpu = _own_cpu()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    sample.seconds = time.perf_counter() - started
    sample.load_cpu_s = _own_cpu() - cpu  # here the "load generator" is the system under test
    return sample


# -- the pipeline through REST ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Client:
    token: str
    task_id: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


async def make_clients(base_url: str, count: int, tag: str) -> list[Client]:
    """`count` users, each with one hello-world task (a task runs one execution at a time)."""
    clients = []
    async with httpx.AsyncClient(base_url=base_url, timeout=30, trust_env=False) as http:
        for i in range(count):
            email = f"bench-{tag}-{i}-{os.getpid()}@example.com"
            reg = await http.post(
                "/api/v1/auth/register",
                json={"email": email, "password": "Bench-secret-1!", "name": f"Bench {i}"},
            )
            reg.raise_for_status()
            token = reg.json()["access_token"]
            task = await http.post(
                "/api/v1/tasks",
                headers={"Authorization": f"Bearer {token}"},
                json={"name": f"hello-{i}", "script_type": "python", "script_content": HELLO},
            )
            task.raise_for_status()
            clients.append(Client(token, task.json()["id"]))
    return clients


class KeepAlive:
    """One HTTP/1.1 keep-alive connection on asyncio streams, for the measured requests.

    httpx costs about 3 ms of client time per request on these machines (a GET measured 6.3 ms
    through httpx, 3.1 ms through this), which would be charged to the system under test.
    """

    def __init__(self, base_url: str) -> None:
        host, _, port = base_url.removeprefix("http://").partition(":")
        self._host, self._port = host, int(port or 80)
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def __aenter__(self) -> KeepAlive:
        self._reader, self._writer = await asyncio.open_connection(self._host, self._port)
        return self

    async def __aexit__(self, *_exc: object) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(OSError):
                await self._writer.wait_closed()

    async def request(self, method: str, path: str, headers: dict[str, str]) -> tuple[int, bytes]:
        """(status, body) of one request without a body."""
        assert self._reader is not None
        assert self._writer is not None
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self._host}", "Content-Length: 0"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        self._writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        await self._writer.drain()
        head = (await self._reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        status = int(head[0].split()[1])
        fields = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in head[1:])}
        if "content-length" in fields:
            return status, await self._reader.readexactly(int(fields["content-length"]))
        body = bytearray()  # chunked
        while size := int((await self._reader.readuntil(b"\r\n")).strip(), 16):
            body += await self._reader.readexactly(size)
            await self._reader.readuntil(b"\r\n")
        await self._reader.readuntil(b"\r\n")
        return status, bytes(body)


async def _execute(http: KeepAlive, client: Client) -> bool:
    status, raw = await http.request(
        "POST", f"/api/v1/tasks/{client.task_id}/executions?wait=30", client.headers
    )
    if status not in (200, 201):
        return False
    body = json.loads(raw)
    return bool(body.get("status") == "completed" and body.get("stdout") == "hello\n")


async def e2e_sequential(base_url: str, client: Client, n: int, warmup: int = 3) -> Sample:
    """Start-with-wait to the final result, one execution at a time."""
    sample = Sample()
    async with KeepAlive(base_url) as http:
        for _ in range(warmup):
            await _execute(http, client)
        cpu = _own_cpu()
        wall = time.perf_counter()
        for _ in range(n):
            started = time.perf_counter()
            if await _execute(http, client):
                sample.latencies_ms.append((time.perf_counter() - started) * 1000)
            else:
                sample.errors += 1
        sample.seconds = time.perf_counter() - wall
        sample.load_cpu_s = _own_cpu() - cpu
    return sample


async def e2e_throughput(base_url: str, clients: list[Client], seconds: float) -> Sample:
    """Executions per second with one execution in flight per client, for `seconds`."""
    sample = Sample()
    deadline = time.perf_counter() + seconds

    async def worker(client: Client) -> None:
        async with KeepAlive(base_url) as http:
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                if await _execute(http, client):
                    sample.latencies_ms.append((time.perf_counter() - started) * 1000)
                else:
                    sample.errors += 1

    cpu = _own_cpu()
    started = time.perf_counter()
    await asyncio.gather(*(worker(c) for c in clients))
    sample.seconds = time.perf_counter() - started
    sample.load_cpu_s = _own_cpu() - cpu
    return sample


async def open_loop_get(
    base_url: str, path: str, headers: dict[str, str], rate: float, seconds: float, conns: int
) -> Sample:
    """GET `path` at a fixed offered `rate` (requests/s) for `seconds`, open loop.

    Request i is due at start + i/rate whatever became of the earlier ones, and its latency is
    counted from when it was due: a slow answer delays no later request's clock (no
    coordinated omission). A request finds a free connection of `conns` keep-alive ones, or waits
    for one, which counts as latency too."""
    idle: asyncio.Queue[KeepAlive] = asyncio.Queue()
    opened = [KeepAlive(base_url) for _ in range(conns)]
    for http in opened:
        await http.__aenter__()
        idle.put_nowait(http)
    sample = Sample()

    async def one(due: float) -> None:
        http = await idle.get()
        try:
            status, _ = await http.request("GET", path, headers)
        except (OSError, asyncio.IncompleteReadError, ValueError):
            sample.errors += 1
            return
        finally:
            idle.put_nowait(http)
        if status == 200:
            sample.latencies_ms.append((time.perf_counter() - due) * 1000)
        else:
            sample.errors += 1

    cpu = _own_cpu()
    started = time.perf_counter()
    tasks = []
    for i in range(int(rate * seconds)):
        due = started + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(due)))
    await asyncio.gather(*tasks)
    sample.seconds = time.perf_counter() - started
    sample.load_cpu_s = _own_cpu() - cpu
    sample.notes = {"offered_per_second": rate}
    for http in opened:
        await http.__aexit__()
    return sample


# -- the read API: wrk -----------------------------------------------------------------------------


def wrk_get(url: str, token: str | None, connections: int, seconds: int) -> Sample:
    """wrk (one thread) GETting `url` over `connections` keep-alive connections."""
    wrk = shutil.which("wrk")
    if wrk is None:
        raise RuntimeError("wrk is not installed (apt-get install -y wrk)")
    argv = [wrk, "-t1", f"-c{connections}", f"-d{seconds}s", "-s", str(WRK_SCRIPT), url]
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "VR_TOKEN": token or ""}
    cpu = children_cpu()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    out, err = proc.communicate(timeout=seconds + 60)  # reaps wrk: its CPU joins RUSAGE_CHILDREN
    line = next((ln for ln in out.decode().splitlines() if ln.startswith("{")), None)
    if proc.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {err.decode()} {out.decode()}")
    doc = json.loads(line)
    sample = Sample(seconds=doc["duration_us"] / 1e6, errors=doc["errors"] + doc["status_errors"])
    sample.load_cpu_s = children_cpu() - cpu
    sample.notes = {
        "requests": doc["requests"],
        "p50_ms": doc["p50_us"] / 1000,
        "p99_ms": doc["p99_us"] / 1000,
        "mean_ms": doc["mean_us"] / 1000,
        "rps": doc["requests"] / (doc["duration_us"] / 1e6),
    }
    return sample


def children_cpu() -> float:
    """CPU seconds of every child this process has reaped so far (wrk, helpers)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime

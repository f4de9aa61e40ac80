"""Hello-world latency per sandbox backend and runtime: p50/p99 over N runs (a script, not a test).

    .venv/bin/python bench/sandbox_latency.py [-n 20] [--runtimes python,bash,javascript]

Runs on every backend that can be built here (bwrap; docker-runc and docker-runsc when
VOIDRUNNER_BENCH_DOCKER_HOST names an engine, e.g. unix:///tmp/vr-docker/docker.sock, with
VOIDRUNNER_BENCH_WARM_POOL containers kept warm), one run at a time after one warm-up run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time

from voidrunner.executor.sandbox.bwrap import BwrapSandbox
from voidrunner.executor.sandbox.types import RunRequest, Sandbox, SandboxError, TerminationReason

HELLO = {
    "python": 'print("hello")',
    "bash": "echo hello",
    "javascript": 'console.log("hello")',
    "go": 'package main\nimport "fmt"\nfunc main() { fmt.Println("hello") }\n',
}


def _backends() -> dict[str, Sandbox]:
    found: dict[str, Sandbox] = {}
    try:
        found["bwrap"] = BwrapSandbox()
    except SandboxError as exc:
        print(f"bwrap: unavailable ({exc})")
    host = os.environ.get("VOIDRUNNER_BENCH_DOCKER_HOST")
    if not host:
        print("docker: skipped (set VOIDRUNNER_BENCH_DOCKER_HOST to an engine socket)")
        return found
    from voidrunner.executor.sandbox.docker import DockerSandbox

    warm = int(os.environ.get("VOIDRUNNER_BENCH_WARM_POOL", "0"))
    for runtime in ("runc", "runsc"):
        found[f"docker-{runtime}"] = DockerSandbox(host, runtime, warm_pool=warm)
    return found


def _percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def _measure(sandbox: Sandbox, runtime: str, n: int) -> list[float]:
    request = RunRequest(runtime=runtime, source=HELLO[runtime], run_id="bench")
    await sandbox.run(request)  # warm-up: caches, page cache
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        result = await sandbox.run(request)
        samples.append((time.perf_counter() - started) * 1000)
        if result.termination_reason is not TerminationReason.EXIT or result.return_code != 0:
            raise SystemExit(f"{sandbox.name}/{runtime} failed: {result}")
    return samples


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", type=int, default=20)
    parser.add_argument("--runtimes", default="python,bash,javascript")
    args = parser.parse_args()
    print(f"{'backend':14} {'runtime':11} {'p50 ms':>8} {'p99 ms':>8} {'mean ms':>8}  n={args.n}")
    for name, sandbox in _backends().items():
        start = getattr(sandbox, "start", None)
        if start is not None:
            try:
                await start()
            except SandboxError as exc:
                print(f"{name}: unavailable ({exc})")
                continue
        available = {info.name for info in sandbox.runtimes() if info.available}
        for runtime in args.runtimes.split(","):
            if runtime not in available:
                print(f"{name:14} {runtime:11} unavailable")
                continue
            samples = await _measure(sandbox, runtime, args.n)
            p50, p99 = _percentile(samples, 0.5), _percentile(samples, 0.99)
            print(f"{name:14} {runtime:11} {p50:8.1f} {p99:8.1f} {statistics.mean(samples):8.1f}")
        await sandbox.close()


if __name__ == "__main__":
    asyncio.run(main())

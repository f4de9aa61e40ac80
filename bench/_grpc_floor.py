"""The floor of one Python gRPC hop: empty unary calls (grpc.health.v1 Check) at N in flight.

    python -m bench._grpc_floor <host:port> <concurrency> <seconds>

Prints one JSON line: calls, seconds, per_second, and this client's CPU seconds. Run against the
tasks service's own server, it is what the gateway → tasks hop costs before either side does any
work: grpcio's client and server, the same packages the services use.
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
import time

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def measure(target: str, concurrency: int, seconds: float) -> dict[str, float]:
    """Calls per second of `concurrency` callers looping for `seconds` (after a warm-up)."""
    async with grpc.aio.insecure_channel(target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        request = health_pb2.HealthCheckRequest()
        for _ in range(50):
            await stub.Check(request)
        calls = 0
        deadline = time.perf_counter() + seconds

        async def caller() -> None:
            nonlocal calls
            while time.perf_counter() < deadline:
                await stub.Check(request)
                calls += 1

        cpu, started = _cpu(), time.perf_counter()
        await asyncio.gather(*(caller() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
        return {
            "calls": calls,
            "seconds": round(elapsed, 2),
            "per_second": round(calls / elapsed, 1),
            "client_cpu_s": round(_cpu() - cpu, 2),
        }


if __name__ == "__main__":
    host, conc, secs = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    print(json.dumps(asyncio.run(measure(host, conc, secs))))

"""Container health probe shipped in every service image (Docker HEALTHCHECK).

The gateway is probed over HTTP (`/health`); the gRPC processes through grpc.health.v1, on the
port their settings read from the same VOIDRUNNER_* variable. Exit status 0 means healthy.
Kubernetes does not use this script: it probes with its native httpGet and grpc probes.
"""

from __future__ import annotations

import os
import sys
import urllib.request

# service -> (how to probe, the variable holding its port, the settings' default port)
PROBES: dict[str, tuple[str, str, int]] = {
    "gateway": ("http", "VOIDRUNNER_GATEWAY_PORT", 8080),
    "auth": ("grpc", "VOIDRUNNER_AUTH_GRPC_PORT", 50051),
    "tasks": ("grpc", "VOIDRUNNER_TASKS_GRPC_PORT", 50052),
    "scheduler": ("grpc", "VOIDRUNNER_SCHEDULER_HEALTH_PORT", 50053),
    "executor": ("grpc", "VOIDRUNNER_EXECUTOR_HEALTH_PORT", 50054),
}
TIMEOUT_SECONDS = 3.0


def probe_http(port: int) -> str | None:
    """None when GET /health answers 200, else what went wrong."""
    url = f"http://127.0.0.1:{port}/health"
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as resp:
            return None if resp.status == 200 else f"HTTP {resp.status}"
    except OSError as exc:
        return str(exc)


def probe_grpc(port: int) -> str | None:
    """None when the overall grpc.health.v1 status is SERVING, else what went wrong."""
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            resp = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=TIMEOUT_SECONDS)
        except grpc.RpcError as exc:
            return f"{exc.code().name}: {exc.details()}"
    if resp.status != health_pb2.HealthCheckResponse.SERVING:
        return str(health_pb2.HealthCheckResponse.ServingStatus.Name(resp.status))
    return None


def main() -> int:
    service = os.environ.get("VR_SERVICE", "")
    if service == "migrate":
        return 0  # a one-shot job has nothing to probe
    if service not in PROBES:
        print(f"healthcheck: unknown VR_SERVICE {service!r}", file=sys.stderr)
        return 2
    kind, variable, default = PROBES[service]
    port = int(os.environ.get(variable) or default)
    problem = probe_http(port) if kind == "http" else probe_grpc(port)
    if problem is not None:
        print(f"healthcheck: {service} on port {port}: {problem}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

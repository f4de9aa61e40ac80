"""The gRPC server's metrics, shared by every gRPC service (labels bounded by its methods)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

RPCS_HANDLED = Counter(
    "voidrunner_grpc_server_handled",
    "gRPC calls answered by this server, by method and status code (refusals included).",
    ["grpc_method", "grpc_code"],
)
RPC_SECONDS = Histogram(
    "voidrunner_grpc_server_handling_seconds",
    "Time from a gRPC call's arrival to its answer, by method.",
    ["grpc_method"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)

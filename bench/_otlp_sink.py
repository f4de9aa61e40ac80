"""An OTLP/gRPC trace sink for the tracing section: accepts every export, keeps only counts.

    python -m bench._otlp_sink <port>

Serves on 127.0.0.1:<port> until SIGTERM, then prints one JSON line: exports and spans received.
A separate process, so that receiving spans costs the services under test nothing.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from typing import Any

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc


class Sink(trace_service_pb2_grpc.TraceServiceServicer):
    """Counts what it is sent."""

    def __init__(self) -> None:
        self.exports = 0
        self.spans = 0

    async def Export(
        self, request: trace_service_pb2.ExportTraceServiceRequest, _context: Any
    ) -> trace_service_pb2.ExportTraceServiceResponse:
        self.exports += 1
        self.spans += sum(
            len(scope.spans) for rs in request.resource_spans for scope in rs.scope_spans
        )
        return trace_service_pb2.ExportTraceServiceResponse()


async def serve(port: int) -> dict[str, int]:
    """Serve until SIGTERM; the counts."""
    sink = Sink()
    server = grpc.aio.server()
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(sink, server)  # type: ignore[no-untyped-call]
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await server.stop(1)
    return {"exports": sink.exports, "spans": sink.spans}


if __name__ == "__main__":
    print(json.dumps(asyncio.run(serve(int(sys.argv[1])))), flush=True)

"""A real OTLP/gRPC trace receiver on a loopback port, for tests: it keeps every span it is sent,
named by the service that sent it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc


@dataclass(frozen=True, slots=True)
class ReceivedSpan:
    """One exported span, with the ids as hex and its attributes as plain values."""

    service: str
    name: str
    trace_id: str
    span_id: str
    parent_id: str
    kind: int
    attributes: dict[str, Any] = field(default_factory=dict)


def _value(any_value: Any) -> Any:
    which = any_value.WhichOneof("value")
    return getattr(any_value, which) if which else None


class OtlpReceiver(trace_service_pb2_grpc.TraceServiceServicer):
    """`start()` serves OTLP on 127.0.0.1 (its `endpoint`); `spans` grows as exports arrive."""

    def __init__(self) -> None:
        self.spans: list[ReceivedSpan] = []
        self.exports = 0
        self._server: grpc.aio.Server | None = None
        self._arrived = asyncio.Event()
        self.endpoint = ""

    async def Export(
        self, request: trace_service_pb2.ExportTraceServiceRequest, _context: Any
    ) -> trace_service_pb2.ExportTraceServiceResponse:
        self.exports += 1
        for resource_spans in request.resource_spans:
            resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    self.spans.append(
                        ReceivedSpan(
                            service=str(resource.get("service.name", "")),
                            name=span.name,
                            trace_id=span.trace_id.hex(),
                            span_id=span.span_id.hex(),
                            parent_id=span.parent_span_id.hex(),
                            kind=span.kind,
                            attributes={a.key: _value(a.value) for a in span.attributes},
                        )
                    )
        self._arrived.set()
        return trace_service_pb2.ExportTraceServiceResponse()

    async def start(self) -> str:
        """Serve on a free loopback port; returns the endpoint URL (plaintext gRPC)."""
        self._server = grpc.aio.server()
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(self, self._server)  # type: ignore[no-untyped-call]
        port = self._server.add_insecure_port("127.0.0.1:0")
        await self._server.start()
        self.endpoint = f"http://127.0.0.1:{port}"
        return self.endpoint

    async def stop(self) -> None:
        """Stop serving."""
        if self._server is not None:
            await self._server.stop(0)

    async def wait_until(
        self, condition: Callable[[list[ReceivedSpan]], bool], seconds: float = 20.0
    ) -> list[ReceivedSpan]:
        """The spans once `condition` holds for them (AssertionError after `seconds`)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while not condition(self.spans):
            left = deadline - loop.time()
            if left <= 0:
                names = sorted({(s.service, s.name) for s in self.spans})
                raise AssertionError(f"spans never matched; received {names}")
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), min(left, 0.5))
        return list(self.spans)

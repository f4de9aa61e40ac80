"""Traces across every hop: OpenTelemetry spans in each service, and the W3C trace context
carried on gRPC metadata, on the outbox row and in NATS message headers.

    tracing = Tracing.configure(settings)            # composition root; off without an endpoint
    with tracing.span("relay", parent=context_from(headers), kind=SpanKind.PRODUCER):
        await js.publish(subject, data, headers=with_trace({...}))
    await tracing.shutdown()                         # flushes what is queued, bounded

Off (no OTLP endpoint configured) `span` is a null context and nothing is recorded or queued.
On, spans go through a bounded queue to a background exporter thread: a slow or unreachable
collector drops spans, it never blocks a request. There is no propagation library for NATS pull
consumers, so `with_trace` and `context_from` are the small inject/extract over a header dict.

Spans carry ids, names of routes and methods, statuses and sizes, never code, stdin, env,
output, tokens or query strings.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.util.types import AttributeValue

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

    from voidrunner.common.settings import BaseServiceSettings

__all__ = [
    "TRACEPARENT",
    "TRACING_OFF",
    "SpanKind",
    "Tracing",
    "add_trace_ids",
    "context_from",
    "current_traceparent",
    "metadata_context",
    "with_trace",
]

TRACEPARENT = "traceparent"
TRACESTATE = "tracestate"
_PROPAGATOR = TraceContextTextMapPropagator()
_NULL: contextlib.nullcontext[None] = contextlib.nullcontext()


class Tracing:
    """One service's tracer (its own provider: services may share a process in tests)."""

    def __init__(
        self, tracer: Tracer | None = None, provider: TracerProvider | None = None
    ) -> None:
        self._tracer = tracer
        self._provider = provider

    @property
    def enabled(self) -> bool:
        """True when spans are recorded and exported."""
        return self._tracer is not None

    @classmethod
    def configure(cls, settings: BaseServiceSettings) -> Tracing:
        """Tracing for the service `settings` describe: OTLP over gRPC to `otlp_endpoint`, or
        off when none is set. Connects lazily (the exporter's thread), never here."""
        if not settings.otlp_endpoint:
            return TRACING_OFF
        # Imported only when on: a service without an endpoint never loads the SDK.
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
        from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

        provider = TracerProvider(
            resource=Resource.create(
                {
                    "service.name": f"voidrunner-{settings.service_name}",
                    "service.namespace": "voidrunner",
                }
            ),
            # Roots (the gateway's requests, loops' own work) are sampled at the ratio; the
            # rest follow their parent, which only our own services can have sent.
            sampler=ParentBased(TraceIdRatioBased(settings.trace_sample_ratio)),
        )
        provider.add_span_processor(
            BatchSpanProcessor(
                OTLPSpanExporter(
                    endpoint=settings.otlp_endpoint, timeout=settings.otlp_timeout_seconds
                ),
                max_queue_size=settings.trace_queue_size,
                max_export_batch_size=min(512, settings.trace_queue_size),
                schedule_delay_millis=settings.trace_export_delay_ms,
                export_timeout_millis=int(settings.otlp_timeout_seconds * 1000),
            )
        )
        return cls(provider.get_tracer(f"voidrunner.{settings.service_name}"), provider)

    def span(
        self,
        name: str,
        *,
        parent: Context | None = None,
        headers: Mapping[str, str] | None = None,
        root: bool = False,
        kind: SpanKind = SpanKind.INTERNAL,
        attributes: Mapping[str, AttributeValue] | None = None,
        status_from_errors: bool = True,
    ) -> contextlib.AbstractContextManager[Span | None]:
        """A span made current for the block: a child of `parent` (a remote context), of the
        trace context in a message's `headers` (read only when tracing is on), of the current
        span, or with `root` a new trace whatever is current.

        An exception out of the block marks the span failed, unless `status_from_errors` is
        False (a caller that sets the status itself: a gRPC abort with NOT_FOUND is no failure).
        """
        if self._tracer is None:
            return _NULL
        context = Context() if root else parent or context_from(headers)
        return self._tracer.start_as_current_span(
            name,
            context=context,
            kind=kind,
            attributes=attributes,
            record_exception=status_from_errors,
            set_status_on_exception=status_from_errors,
        )

    async def shutdown(self) -> None:
        """Export what is queued (bounded by the export timeout) and stop the exporter."""
        if self._provider is not None:
            await asyncio.to_thread(self._provider.shutdown)


TRACING_OFF = Tracing()


def with_trace(headers: dict[str, str]) -> dict[str, str]:
    """`headers` with the current span's `traceparent` (and `tracestate`) added, if any."""
    if trace.get_current_span().get_span_context().is_valid:
        _PROPAGATOR.inject(headers)
    return headers


def current_traceparent() -> str | None:
    """The current span's W3C traceparent, or None outside a valid span."""
    return with_trace({}).get(TRACEPARENT)


def context_from(carrier: Mapping[str, str] | None) -> Context | None:
    """The remote parent that `carrier` (message headers, a stored traceparent) names, or None
    when it names none or a malformed one."""
    if not carrier or TRACEPARENT not in carrier:
        return None
    context = _PROPAGATOR.extract(carrier)
    if not trace.get_current_span(context).get_span_context().is_valid:
        return None
    return context


def metadata_context(metadata: Iterable[tuple[str, str | bytes]] | None) -> Context | None:
    """The remote parent in a gRPC call's metadata, or None."""
    carrier: dict[str, str] = {}
    for key, value in metadata or ():
        if key in (TRACEPARENT, TRACESTATE):
            carrier[key] = value.decode("ascii", "replace") if isinstance(value, bytes) else value
    return context_from(carrier)


def add_trace_ids(_logger: Any, _name: str, event: dict[str, Any]) -> dict[str, Any]:
    """structlog processor: the current trace_id and span_id beside the request id."""
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        event.setdefault("trace_id", format(context.trace_id, "032x"))
        event.setdefault("span_id", format(context.span_id, "016x"))
    return event

"""The W3C trace context carried between services: inject into headers, extract from headers,
gRPC metadata and the outbox row, and nothing at all while tracing is off."""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from voidrunner.common.settings import BaseServiceSettings
from voidrunner.common.tracing import (
    TRACEPARENT,
    TRACING_OFF,
    Tracing,
    context_from,
    current_traceparent,
    metadata_context,
    with_trace,
)

TRACE_ID = 0x4BF92F3577B34DA6A3CE929D0E0E4736
SPAN_ID = 0x00F067AA0BA902B7
PARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def _span() -> NonRecordingSpan:
    return NonRecordingSpan(
        SpanContext(TRACE_ID, SPAN_ID, is_remote=False, trace_flags=TraceFlags(1))
    )


def test_headers_get_the_current_span_and_nothing_outside_one() -> None:
    assert with_trace({"Nats-Msg-Id": "x"}) == {"Nats-Msg-Id": "x"}
    assert current_traceparent() is None
    with trace.use_span(_span()):
        assert with_trace({"Nats-Msg-Id": "x"}) == {"Nats-Msg-Id": "x", TRACEPARENT: PARENT}
        assert current_traceparent() == PARENT


def test_a_carried_context_names_its_remote_parent() -> None:
    for context in (context_from({TRACEPARENT: PARENT}), metadata_context([(TRACEPARENT, PARENT)])):
        assert context is not None
        parent = trace.get_current_span(context).get_span_context()
        assert (parent.trace_id, parent.span_id, parent.is_remote) == (TRACE_ID, SPAN_ID, True)
    assert metadata_context([("x-request-id", "r"), (TRACEPARENT, PARENT.encode())]) is not None


def test_missing_or_malformed_contexts_name_no_parent() -> None:
    for carrier in (
        None,
        {},
        {"other": "x"},
        {TRACEPARENT: ""},
        {TRACEPARENT: "not a traceparent"},
        {TRACEPARENT: "00-00000000000000000000000000000000-00f067aa0ba902b7-01"},  # zero trace id
        {TRACEPARENT: "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01"},  # zero span id
        {TRACEPARENT: "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},  # bad version
        {TRACEPARENT: PARENT + "x" * 10_000},
    ):
        assert context_from(carrier) is None, carrier
    assert metadata_context(None) is None
    assert metadata_context([("x-request-id", "r")]) is None


def test_without_an_endpoint_tracing_is_off_and_spans_are_null() -> None:
    tracing = Tracing.configure(BaseServiceSettings(environment="test"))
    assert tracing is TRACING_OFF
    assert not tracing.enabled
    with tracing.span("anything") as span:
        assert span is None
        assert current_traceparent() is None

"""Log lines: one JSON object each, from our loggers and from libraries' stdlib loggers alike."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest
import structlog

from voidrunner.common.logs import configure_logging, get_logger
from voidrunner.common.settings import LogFormat


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        yield
    finally:
        structlog.reset_defaults()
        structlog.contextvars.clear_contextvars()
        root.handlers[:], root.level = handlers, level


def lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, object]]:
    return [json.loads(line) for line in capsys.readouterr().err.splitlines()]


def test_our_events_and_library_records_are_json_lines(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("svc", "info", LogFormat.JSON)
    structlog.contextvars.bind_contextvars(request_id="r1")
    log = get_logger("voidrunner.test")
    log.debug("hidden")
    log.info("http", status=200)
    logging.getLogger("some.library").warning("disk %s", "full")
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        log.exception("failed")
    ours, library, failed = lines(capsys)
    assert {k: ours[k] for k in ("event", "status", "level", "service", "request_id")} == {
        "event": "http",
        "status": 200,
        "level": "info",
        "service": "svc",
        "request_id": "r1",
    }
    assert "timestamp" in ours
    assert (library["event"], library["level"], library["service"]) == (
        "disk full",
        "warning",
        "svc",
    )
    assert failed["level"] == "error"
    assert "RuntimeError: boom" in str(failed["exception"])


def test_an_unknown_level_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown log level"):
        configure_logging("svc", "chatty", LogFormat.JSON)


def test_lines_inside_a_span_carry_its_trace_and_span_ids(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from opentelemetry import trace
    from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

    configure_logging("svc", "info", LogFormat.JSON)
    log = get_logger("voidrunner.test")
    context = SpanContext(
        trace_id=0x0AF7651916CD43DD8448EB211C80319C,
        span_id=0xB7AD6B7169203331,
        is_remote=False,
        trace_flags=TraceFlags(TraceFlags.SAMPLED),
    )
    with trace.use_span(NonRecordingSpan(context)):
        log.info("inside")
    log.info("outside")
    inside, outside = lines(capsys)
    assert inside["trace_id"] == "0af7651916cd43dd8448eb211c80319c"
    assert inside["span_id"] == "b7ad6b7169203331"
    assert "trace_id" not in outside
    assert "span_id" not in outside

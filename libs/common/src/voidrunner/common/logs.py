"""Structured logging: JSON off a terminal, readable on one, context bound through contextvars."""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog
from structlog.typing import FilteringBoundLogger

from voidrunner.common.settings import LogFormat
from voidrunner.common.tracing import add_trace_ids


def configure_logging(service: str, level: str = "INFO", fmt: LogFormat = LogFormat.AUTO) -> None:
    """Configure structlog and the stdlib root logger (for libraries' records) once per process."""
    threshold = logging.getLevelName(level.upper())
    if not isinstance(threshold, int):
        raise ValueError(f"unknown log level {level!r}")
    use_json = fmt is LogFormat.JSON or (fmt is LogFormat.AUTO and not sys.stderr.isatty())
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        add_trace_ids,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _add_service(service),
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if use_json
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    # Our own events skip the stdlib: its Logger, LogRecord and ProcessorFormatter round trip cost
    # about 60 µs a line against 22 µs here, paid on every request and every RPC.
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, renderer],
        logger_factory=structlog.WriteLoggerFactory(file=sys.stderr),
        wrapper_class=structlog.make_filtering_bound_logger(threshold),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(threshold)
    # uvicorn's access log duplicates our one-line-per-request log.
    logging.getLogger("uvicorn.access").disabled = True


def _add_service(service: str) -> Any:
    def processor(_logger: Any, _name: str, event: dict[str, Any]) -> dict[str, Any]:
        event.setdefault("service", service)
        return event

    return processor


def get_logger(name: str) -> FilteringBoundLogger:
    """A logger that carries whatever context is bound in the current task."""
    logger: FilteringBoundLogger = structlog.get_logger(name)
    return logger

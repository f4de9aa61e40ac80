"""Server interceptors: refuse unauthorized callers, bind the request id, log one line per RPC,
translate errors once."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import grpc
import structlog
from opentelemetry.trace import StatusCode

from voidrunner.common.db import UNAVAILABLE_ERRORS
from voidrunner.common.errors import ServiceError
from voidrunner.common.grpc_access import AccessPolicy, Refusal
from voidrunner.common.logs import get_logger
from voidrunner.common.request_context import REQUEST_ID_HEADER, accept_or_new, set_request_id
from voidrunner.common.rpc_metrics import RPC_SECONDS, RPCS_HANDLED
from voidrunner.common.tracing import TRACING_OFF, SpanKind, Tracing, metadata_context

_log = get_logger("voidrunner.rpc")
_QUIET = ("/grpc.health.v1.Health/", "/grpc.reflection.")
# Codes that mean the server failed (OpenTelemetry's rule for server spans); the rest are the
# caller's problem and leave the span's status unset.
_SERVER_FAULTS = frozenset(
    {
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.UNIMPLEMENTED,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DATA_LOSS,
    }
)


class ServerInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[type-arg]
    """Caller authorization, request id, one canonical log line per RPC, and domain error →
    status translation.

    With an `access` policy every call (of any kind, health aside) is checked before its handler
    runs; a refusal is logged and answered with its status, and the handler never sees the call.
    The wrapped handler of a method is built once and reused: it reads everything that belongs
    to a call (the request id in its metadata) from that call's own context.
    """

    def __init__(self, access: AccessPolicy | None = None, tracing: Tracing = TRACING_OFF) -> None:
        self._access = access
        self._tracing = tracing
        # method → (the servicer's handler, our wrapper of it); bounded by the registered
        # methods, as unknown methods have no handler and are never wrapped.
        self._wrapped: dict[str, tuple[grpc.RpcMethodHandler, grpc.RpcMethodHandler]] = {}  # type: ignore[type-arg]

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],  # type: ignore[type-arg]
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:  # type: ignore[type-arg]
        handler = await continuation(handler_call_details)
        method = handler_call_details.method
        if handler is not None and self._access is not None:
            caller, refusal = self._access.check(method, handler_call_details.invocation_metadata)
            if refusal is not None:
                _log.warning(
                    "rpc refused",
                    rpc=method,
                    caller=caller,
                    code=refusal.code.name,
                    reason=refusal.message,
                )
                RPCS_HANDLED.labels(method, refusal.code.name).inc()
                return _refusing(handler, refusal)
        if handler is None or handler.unary_unary is None:
            return handler
        cached = self._wrapped.get(method)
        if cached is not None and cached[0] is handler:
            return cached[1]
        wrapped = _wrap(method, handler, self._tracing)
        self._wrapped[method] = (handler, wrapped)
        return wrapped


def _wrap(
    method: str,
    handler: grpc.RpcMethodHandler,  # type: ignore[type-arg]
    tracing: Tracing,
) -> grpc.RpcMethodHandler:  # type: ignore[type-arg]
    """`handler` with the request id bound, a span, errors translated and one log line per
    call."""
    inner = handler.unary_unary
    if inner is None:  # only unary-unary handlers are wrapped (see intercept_service)
        return handler
    quiet = method.startswith(_QUIET)
    traced = tracing if not quiet else TRACING_OFF
    span_name = method.lstrip("/")
    service, _, name = span_name.rpartition("/")
    attributes = {"rpc.system": "grpc", "rpc.service": service, "rpc.method": name}

    async def wrapped(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        metadata = context.invocation_metadata()
        request_id = accept_or_new(_request_id(metadata))
        set_request_id(request_id)
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id, rpc=method)
        started = time.perf_counter()
        code = grpc.StatusCode.OK
        with traced.span(
            span_name,
            parent=metadata_context(metadata) if traced.enabled else None,
            kind=SpanKind.SERVER,
            attributes=attributes,
            status_from_errors=False,
        ) as span:
            try:
                return await inner(request, context)  # type: ignore[arg-type]
            except ServiceError as exc:
                code = exc.code
                await context.abort(exc.code, exc.message)
            except UNAVAILABLE_ERRORS:  # the database restarting: 503 to the caller, not 500
                code = grpc.StatusCode.UNAVAILABLE
                _log.warning("rpc dependency unavailable", exc_info=True)
                await context.abort(code, "a dependency is unavailable, retry later")
            except grpc.aio.AbortError:
                code = context.code() or grpc.StatusCode.UNKNOWN
                raise
            except Exception:
                code = grpc.StatusCode.INTERNAL
                _log.exception("rpc failed")
                await context.abort(code, "internal error")
            finally:
                elapsed = time.perf_counter() - started
                RPCS_HANDLED.labels(method, code.name).inc()
                RPC_SECONDS.labels(method).observe(elapsed)
                if span is not None:
                    span.set_attribute("rpc.grpc.status_code", code.value[0])
                    if code in _SERVER_FAULTS:
                        span.set_status(StatusCode.ERROR, code.name)
                if not quiet:
                    _log.info("rpc", code=code.name, duration_ms=round(elapsed * 1000, 2))

    return grpc.unary_unary_rpc_method_handler(
        wrapped,
        request_deserializer=handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )


def _refusing(handler: grpc.RpcMethodHandler, refusal: Refusal) -> grpc.RpcMethodHandler:  # type: ignore[type-arg]
    """A handler of the same kind as `handler` that answers every call with `refusal`."""

    async def refuse(_request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        await context.abort(refusal.code, refusal.message)

    kinds = {
        (False, False): grpc.unary_unary_rpc_method_handler,
        (False, True): grpc.unary_stream_rpc_method_handler,
        (True, False): grpc.stream_unary_rpc_method_handler,
        (True, True): grpc.stream_stream_rpc_method_handler,
    }
    make = kinds[(bool(handler.request_streaming), bool(handler.response_streaming))]
    return make(
        refuse,
        request_deserializer=handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )


def _request_id(metadata: Iterable[tuple[str, str | bytes]] | None) -> str | None:
    """The call's x-request-id (the last one, if sent more than once), as text."""
    found: str | bytes | None = None
    for key, value in metadata or ():
        if key == REQUEST_ID_HEADER:
            found = value
    return _as_text(found)


def _as_text(value: str | bytes | None) -> str | None:
    if isinstance(value, bytes):
        return value.decode("ascii", "replace")
    return value

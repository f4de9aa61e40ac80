"""Server interceptors: bind the request id, log one line per RPC, translate errors once."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import grpc
import structlog

from voidrunner.common.db import UNAVAILABLE_ERRORS
from voidrunner.common.errors import ServiceError
from voidrunner.common.logs import get_logger
from voidrunner.common.request_context import REQUEST_ID_HEADER, accept_or_new, set_request_id

_log = get_logger("voidrunner.rpc")
_QUIET = ("/grpc.health.v1.Health/", "/grpc.reflection.")


class ServerInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[type-arg]
    """Request id, one canonical log line per RPC, and domain error → status translation.

    The wrapped handler of a method is built once and reused: it reads everything that belongs
    to a call (the request id in its metadata) from that call's own context.
    """

    def __init__(self) -> None:
        # method → (the servicer's handler, our wrapper of it); bounded by the registered
        # methods, as unknown methods have no handler and are never wrapped.
        self._wrapped: dict[str, tuple[grpc.RpcMethodHandler, grpc.RpcMethodHandler]] = {}  # type: ignore[type-arg]

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],  # type: ignore[type-arg]
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:  # type: ignore[type-arg]
        handler = await continuation(handler_call_details)
        if handler is None or handler.unary_unary is None:
            return handler
        method = handler_call_details.method
        cached = self._wrapped.get(method)
        if cached is not None and cached[0] is handler:
            return cached[1]
        wrapped = _wrap(method, handler)
        self._wrapped[method] = (handler, wrapped)
        return wrapped


def _wrap(method: str, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:  # type: ignore[type-arg]
    """`handler` with the request id bound, errors translated and one log line per call."""
    inner = handler.unary_unary
    if inner is None:  # only unary-unary handlers are wrapped (see intercept_service)
        return handler
    quiet = method.startswith(_QUIET)

    async def wrapped(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        request_id = accept_or_new(_request_id(context.invocation_metadata()))
        set_request_id(request_id)
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id, rpc=method)
        started = time.perf_counter()
        code = grpc.StatusCode.OK
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
            if not quiet:
                _log.info(
                    "rpc",
                    code=code.name,
                    duration_ms=round((time.perf_counter() - started) * 1000, 2),
                )

    return grpc.unary_unary_rpc_method_handler(
        wrapped,
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

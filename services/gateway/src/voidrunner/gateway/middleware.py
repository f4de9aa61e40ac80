"""Pure ASGI middleware: request context, security headers, JSON's charset and one log line per
request; and the body limit."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Sequence
from typing import Any

import structlog
from opentelemetry.trace import StatusCode
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from voidrunner.common.logs import get_logger
from voidrunner.common.request_context import accept_or_new, set_request_id
from voidrunner.common.tracing import TRACING_OFF, SpanKind, Tracing
from voidrunner.gateway.metrics import UNMATCHED, method_label, observe_request, route_label

_log = get_logger("voidrunner.gateway.http")

SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"strict-origin-when-cross-origin"),
]
CSP_STRICT = b"default-src 'self'"
# The docs page loads only the gateway's own files (Swagger UI and its start-up script, see
# docs.py), so scripts and styles stay 'self' with nothing inline; Swagger UI's stylesheet draws
# its icons as data: URIs.
CSP_DOCS = (
    b"default-src 'self'; script-src 'self'; style-src 'self'; "
    b"img-src 'self' data:; frame-ancestors 'none'"
)
DOCS_PATHS = ("/docs",)
JSON = b"application/json"
JSON_UTF8 = b"application/json; charset=utf-8"
QUIET_PATHS = ("/health", "/ready")
DRAIN_LIMIT = 64 * 1024 * 1024
# Where the answered status is left in the request's state for the span (set in _handle).
_STATUS_KEY = "voidrunner.status"


class RequestContextMiddleware:
    """Binds X-Request-ID, opens the request's span, adds security headers to every response
    (and `charset=utf-8` to every JSON one, error bodies included), logs one line per request.

    The span is always the root of a new trace: a `traceparent` sent from the internet is
    ignored, so no caller can force sampling or graft its requests onto another trace.
    """

    def __init__(self, app: ASGIApp, tracing: Tracing = TRACING_OFF) -> None:
        self.app = app
        self.tracing = tracing

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if not self.tracing.enabled or scope["path"].startswith(QUIET_PATHS):
            await self._handle(scope, receive, send)
            return
        method = method_label(scope["method"])
        with self.tracing.span(
            method,
            root=True,
            kind=SpanKind.SERVER,
            attributes={"http.request.method": method, "url.scheme": scope.get("scheme", "")},
            status_from_errors=True,
        ) as span:
            try:
                await self._handle(scope, receive, send)
            finally:
                if span is not None:
                    route = route_label(scope)
                    if route != UNMATCHED:  # a path is a user's input: only templates name spans
                        span.update_name(f"{method} {route}")
                        span.set_attribute("http.route", route)
                    status = scope.get("state", {}).get(_STATUS_KEY, 500)
                    span.set_attribute("http.response.status_code", status)
                    if status >= 500:
                        span.set_status(StatusCode.ERROR)

    async def _handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = dict(scope["headers"])
        raw = headers.get(b"x-request-id")
        request_id = accept_or_new(raw.decode("latin-1") if raw else None)
        set_request_id(request_id)
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        path: str = scope["path"]
        csp = CSP_DOCS if path.startswith(DOCS_PATHS) else CSP_STRICT
        status = 500
        started = time.perf_counter()
        started_response = False

        async def send_with_headers(message: Message) -> None:
            nonlocal status, started_response
            if message["type"] == "http.response.start":
                started_response = True
                status = message["status"]
                headers = message.get("headers", [])
                extra = [(b"x-request-id", request_id.encode()), *SECURITY_HEADERS]
                # A response with a policy of its own keeps it (the web UI's pages carry a
                # per-response nonce, see ui.py): a second header would be enforced as well.
                if not any(name.lower() == b"content-security-policy" for name, _ in headers):
                    extra.append((b"content-security-policy", csp))
                message["headers"] = [*_with_charset(headers), *extra]
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            # Starlette answers an unhandled error outside every middleware, so that 500 would
            # lack X-Request-ID and the security headers: answer it here, then let it propagate
            # to the error handler, which logs it.
            if not started_response:
                await _internal_error(send_with_headers)
            raise
        finally:
            elapsed = time.perf_counter() - started
            scope.setdefault("state", {})[_STATUS_KEY] = status
            observe_request(scope, status, elapsed)
            if not path.startswith(QUIET_PATHS) or status >= 400:
                state: dict[str, Any] = scope.get("state", {})
                _log.info(
                    "http",
                    method=scope["method"],
                    path=path,
                    status=status,
                    duration_ms=round(elapsed * 1000, 2),
                    user_id=state.get("user_id"),
                )


def _with_charset(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """Headers where a bare `application/json` content type names its charset."""
    return [
        (name, JSON_UTF8) if name.lower() == b"content-type" and value == JSON else (name, value)
        for name, value in headers
    ]


async def _internal_error(send: Send) -> None:
    body = b'{"error":"Internal server error"}'
    await send(
        {
            "type": "http.response.start",
            "status": 500,
            "headers": [(b"content-type", JSON_UTF8), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


class BodyLimitMiddleware:
    """Refuses bodies over the limit with 413, whether announced by Content-Length or not.

    The limit is `max_bytes`, or the `larger` one of the first pattern that matches the path
    (routes that take files). The body is read here and replayed to the app, so a chunked
    upload cannot stream past the limit.
    """

    def __init__(
        self, app: ASGIApp, max_bytes: int, larger: Sequence[tuple[re.Pattern[str], int]] = ()
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.larger = tuple(larger)

    def limit(self, path: str) -> int:
        """The body limit of `path`."""
        return next(
            (size for pattern, size in self.larger if pattern.fullmatch(path)), self.max_bytes
        )

    async def _too_large(self, receive: Receive, send: Send, *, more: bool, limit: int) -> None:
        # Read (and drop) what the client is still sending, up to a bound, so that it gets to
        # read our 413 instead of a connection reset in the middle of its upload.
        drained = 0
        while more and drained < DRAIN_LIMIT:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            drained += len(message.get("body", b""))
            more = message.get("more_body", False)
        body = json.dumps(
            {"error": f"Request body too large. Maximum size: {limit} bytes"}
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        limit = self.limit(scope["path"])
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None:
            try:
                if int(length) > limit:
                    await self._too_large(receive, send, more=True, limit=limit)
                    return
            except ValueError:
                pass
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await self._too_large(
                    receive, send, more=message.get("more_body", False), limit=limit
                )
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

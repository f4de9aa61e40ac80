"""Pure ASGI middleware: request context + security headers + one log line, and the body limit."""

from __future__ import annotations

import json
import time
from typing import Any

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from voidrunner.common.logs import get_logger
from voidrunner.common.request_context import accept_or_new, set_request_id

_log = get_logger("voidrunner.gateway.http")

SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"strict-origin-when-cross-origin"),
]
CSP_STRICT = b"default-src 'self'"
# Swagger UI is served from a CDN by FastAPI's docs page; only that page gets these sources.
CSP_DOCS = (
    b"default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    b"style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    b"img-src 'self' data: https://fastapi.tiangolo.com"
)
DOCS_PATHS = ("/docs", "/redoc")
QUIET_PATHS = ("/health", "/ready")
DRAIN_LIMIT = 64 * 1024 * 1024


class RequestContextMiddleware:
    """Binds X-Request-ID, adds security headers to every response, logs one line per request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
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

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                extra = [
                    (b"x-request-id", request_id.encode()),
                    *SECURITY_HEADERS,
                    (b"content-security-policy", csp),
                ]
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            if not path.startswith(QUIET_PATHS) or status >= 400:
                state: dict[str, Any] = scope.get("state", {})
                _log.info(
                    "http",
                    method=scope["method"],
                    path=path,
                    status=status,
                    duration_ms=round((time.perf_counter() - started) * 1000, 2),
                    user_id=state.get("user_id"),
                )


class BodyLimitMiddleware:
    """Refuses bodies over `max_bytes` with 413, whether announced by Content-Length or not.

    The body (at most `max_bytes`) is read here and replayed to the app, so a chunked upload
    cannot stream past the limit.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def _too_large(self, receive: Receive, send: Send, *, more: bool) -> None:
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
            {"error": f"Request body too large. Maximum size: {self.max_bytes} bytes"}
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
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None:
            try:
                if int(length) > self.max_bytes:
                    await self._too_large(receive, send, more=True)
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
            if size > self.max_bytes:
                await self._too_large(receive, send, more=message.get("more_body", False))
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

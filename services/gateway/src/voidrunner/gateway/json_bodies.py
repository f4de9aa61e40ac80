"""Which request bodies the gateway reads as JSON, decided once for every route.

The original API parsed any body as JSON, so `curl -d '{"name": ...}'` worked although curl
labels it `application/x-www-form-urlencoded`, and so did a body without a Content-Type. The
gateway keeps that: such a request is relabelled `application/json` before FastAPI reads it
(a body that is not JSON then gets the usual 400 "Invalid request format"). Any other type
(text/plain, multipart/form-data, ...) gets 415.

The leniency is safe only because every route authenticates with an Authorization header,
which a cross-site HTML form cannot send. A route that authenticates by cookie must accept
`application/json` alone (a form post is a "simple" request that needs no CORS preflight, so a
hostile page could submit one with the user's cookie): list its path in JSON_ONLY_PATHS.
"""

from __future__ import annotations

import json
from collections.abc import Collection

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Paths (or prefixes ending in "/") that accept only application/json bodies; see above.
# The browser session routes (routes/session.py) authenticate by cookie.
JSON_ONLY_PATHS: frozenset[str] = frozenset({"/api/v1/auth/session", "/api/v1/auth/session/"})
LENIENT_TYPES = frozenset({"", "application/x-www-form-urlencoded"})
NO_BODY_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def media_type(content_type: str) -> str:
    """`application/json` of `Application/JSON; charset=utf-8`."""
    return content_type.split(";", 1)[0].strip().lower()


def is_json(media: str) -> bool:
    """application/json and the structured `+json` types (application/merge-patch+json)."""
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


class JsonBodyMiddleware:
    """Relabels form-encoded and unlabelled bodies as JSON; refuses other types with 415."""

    def __init__(self, app: ASGIApp, json_only: Collection[str] = JSON_ONLY_PATHS) -> None:
        self.app = app
        self.exact = frozenset(p for p in json_only if not p.endswith("/"))
        self.prefixes = tuple(p for p in json_only if p.endswith("/"))

    def _json_only(self, path: str) -> bool:
        return path in self.exact or path.startswith(self.prefixes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in NO_BODY_METHODS:
            await self.app(scope, receive, send)
            return
        # Read up to the first byte of the body: a request without one has no type to judge
        # (clients send Content-Type: text/plain on an empty DELETE, and that is fine).
        early: list[Message] = []
        while True:
            message = await receive()
            early.append(message)
            if (
                message["type"] != "http.request"
                or message.get("body")
                or not message.get("more_body")
            ):
                break
        has_body = any(m.get("body") for m in early)
        headers = [(k, v) for k, v in scope["headers"] if k != b"content-type"]
        content_type = next((v for k, v in scope["headers"] if k == b"content-type"), b"")
        media = media_type(content_type.decode("latin-1"))
        if has_body and not is_json(media):
            if media not in LENIENT_TYPES or self._json_only(scope["path"]):
                await _unsupported(send)
                return
            scope["headers"] = [*headers, (b"content-type", b"application/json")]

        async def replay() -> Message:
            if early:
                return early.pop(0)
            return await receive()

        await self.app(scope, replay, send)


async def _unsupported(send: Send) -> None:
    body = json.dumps(
        {"error": "Unsupported media type", "details": "Content-Type must be application/json"}
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 415,
            "headers": [
                (b"content-type", b"application/json; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
                (b"accept", b"application/json"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})

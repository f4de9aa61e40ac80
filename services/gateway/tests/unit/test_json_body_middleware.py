"""JsonBodyMiddleware in front of a small ASGI app that echoes what reached it: the relabelling,
the 415s, and the opt-out for paths that must take application/json alone (cookie-auth routes)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.types import Message, Receive, Scope, Send

from voidrunner.gateway.json_bodies import JSON_ONLY_PATHS, JsonBodyMiddleware

FORM = "application/x-www-form-urlencoded"
BODY = b'{"a": 1}'


async def echo(scope: Scope, receive: Receive, send: Send) -> None:
    """Answers with the Content-Type and the body the app was handed."""
    body = b""
    more = True
    while more:
        message: Message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    seen = dict(scope["headers"]).get(b"content-type", b"").decode()
    payload = json.dumps({"content_type": seen, "body": body.decode()}).encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": payload})


def client(json_only: frozenset[str] = JSON_ONLY_PATHS) -> httpx.AsyncClient:
    app = JsonBodyMiddleware(echo, json_only=json_only)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw")


@pytest.mark.parametrize("content_type", [FORM, None])
async def test_form_and_unlabelled_bodies_reach_the_app_as_json(content_type: str | None) -> None:
    headers = {} if content_type is None else {"Content-Type": content_type}
    async with client() as c:
        resp = await c.post("/api/v1/tasks", content=BODY, headers=headers)
    assert resp.json() == {"content_type": "application/json", "body": BODY.decode()}


async def test_json_passes_untouched_and_other_types_are_refused() -> None:
    async with client() as c:
        typed = await c.post("/x", content=BODY, headers={"Content-Type": "application/vnd.a+json"})
        plain = await c.post("/x", content=BODY, headers={"Content-Type": "text/plain"})
        empty = await c.delete("/x", headers={"Content-Type": "text/plain"})
    assert typed.json()["content_type"] == "application/vnd.a+json"
    assert plain.status_code == 415
    assert plain.headers["accept"] == "application/json"
    assert empty.status_code == 200


async def test_json_only_paths_refuse_what_a_cross_site_form_can_send() -> None:
    cookie_routes = frozenset({"/api/v1/session", "/ui/"})
    async with client(cookie_routes) as c:
        for path in ("/api/v1/session", "/ui/tasks/1"):
            for headers in ({"Content-Type": FORM}, {"Content-Type": "text/plain"}, {}):
                resp = await c.post(path, content=BODY, headers=headers)
                assert resp.status_code == 415, (path, headers)
            ok = await c.post(path, content=BODY, headers={"Content-Type": "application/json"})
            assert ok.status_code == 200, path
        # Only the listed paths: a sibling keeps the lenient rule.
        other = await c.post("/api/v1/sessions", content=BODY, headers={"Content-Type": FORM})
    assert other.json()["content_type"] == "application/json"


async def test_a_chunked_body_is_replayed_whole() -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for part in (b'{"a": ', b"1}"):
            yield part

    async with client() as c:
        resp = await c.post("/x", content=chunks(), headers={"Content-Type": FORM})
    assert resp.json() == {"content_type": "application/json", "body": BODY.decode()}

"""The calls whose server side is not on this branch (API keys, password change), and the
SDK's own rules (retries, stream resumption, the credentials file), over httpx.MockTransport."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from voidrunner.client import (
    BadRequest,
    Client,
    ConfigError,
    ConnectionFailed,
    Credentials,
    CredentialsFile,
    Forbidden,
    NotFound,
    RateLimited,
)

URL = "http://gateway.test"
KEY_ID = str(uuid.uuid4())
NOW = "2026-12-02T10:00:00Z"


def key_body(n: int, **extra: object) -> dict[str, object]:
    return {
        "id": str(uuid.UUID(int=n)),
        "name": f"key {n}",
        "scopes": ["read", "run"],
        "prefix": "vr_abcdefgh",
        "created_at": NOW,
        "expires_at": None,
        "last_used_at": None,
        **extra,
    }


def client_for(
    handler: Callable[[httpx.Request], httpx.Response], sleeps: list[float] | None = None
) -> Client:
    return Client(
        URL,
        api_key="vr_secret",
        transport=httpx.MockTransport(handler),
        sleep=(sleeps.append if sleeps is not None else lambda _s: None),
    )


def test_api_keys_create_list_revoke() -> None:
    seen: list[tuple[str, str, bytes]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((request.method, str(request.url), request.content))
        assert request.headers["Authorization"] == "Bearer vr_secret"
        if request.method == "POST":
            return httpx.Response(201, json=key_body(9, key="vr_abcdefgh_rest"))
        if request.method == "DELETE":
            if request.url.path.endswith(KEY_ID):
                return httpx.Response(204)
            return httpx.Response(404, json={"error": "API key not found"})
        if request.url.params.get("cursor") == "p2":
            page = {"api_keys": [key_body(1)], "pagination": {"has_more": False}}
        else:
            page = {
                "api_keys": [key_body(3), key_body(2)],
                "pagination": {"has_more": True, "next_cursor": "p2"},
            }
        return httpx.Response(200, json=page)

    with client_for(handler) as vr:
        expires = dt.datetime(2027, 1, 1, tzinfo=dt.UTC)
        created = vr.api_keys.create("ci", ["read", "run"], expires_at=expires)
        assert created.key == "vr_abcdefgh_rest"
        assert json.loads(seen[0][2]) == {
            "name": "ci",
            "scopes": ["read", "run"],
            "expires_at": "2027-01-01T00:00:00Z",
        }
        assert [k.name for k in vr.api_keys.list(page_size=2)] == ["key 3", "key 2", "key 1"]
        assert "limit=2" in seen[1][1]
        vr.api_keys.revoke(KEY_ID)
        with pytest.raises(NotFound) as missing:
            vr.api_keys.revoke(uuid.uuid4())
    assert missing.value.error == "API key not found"
    assert missing.value.status == 404


def test_contract_errors_carry_the_body() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/password"):
            return httpx.Response(403, json={"error": "Current password is incorrect"})
        if request.method == "DELETE":
            return httpx.Response(400, json={"error": "Invalid API key ID format"})
        item = {"field": "scopes", "value": "[]", "tag": "min", "message": "scopes is empty"}
        return httpx.Response(400, json={"error": "Validation failed", "validation_errors": [item]})

    with client_for(handler) as vr:
        with pytest.raises(Forbidden) as wrong:
            vr.auth.change_password("old", "N3w-password!")
        assert wrong.value.error == "Current password is incorrect"
        with pytest.raises(BadRequest) as bad_id:
            vr.api_keys.revoke("nope")
        assert bad_id.value.error == "Invalid API key ID format"
        with pytest.raises(BadRequest) as invalid:
            vr.api_keys.create("x", [])
        assert [v.field for v in invalid.value.validation_errors] == ["scopes"]
        assert "scopes is empty" in str(invalid.value)


def test_password_change_and_scope_refusal() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/password"):
            assert json.loads(request.content) == {
                "current_password": "Old-pass1!",
                "new_password": "N3w-pass!!",
            }
            return httpx.Response(200, json={"message": "password changed"})
        return httpx.Response(403, json={"error": "Insufficient scope"})

    with client_for(handler) as vr:
        assert vr.auth.change_password("Old-pass1!", "N3w-pass!!").message == "password changed"
        with pytest.raises(Forbidden, match="Insufficient scope"):
            vr.api_keys.create("wider", ["manage"])


def test_429_and_503_are_retried_as_retry_after_says_and_bounded() -> None:
    calls: list[int] = []
    sleeps: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        if len(calls) == 1:
            return httpx.Response(
                429,
                headers={"Retry-After": "2"},
                json={"error": "Rate limit exceeded", "retry_after": 2},
            )
        if len(calls) == 2:
            return httpx.Response(503, json={"error": "Service temporarily unavailable"})
        return httpx.Response(200, json={"runtimes": []})

    with client_for(handler, sleeps) as vr:
        assert vr.runtimes.list() == []
    assert len(calls) == 3
    assert sleeps[0] == 2.0
    assert 0 < sleeps[1] <= 30

    def always(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(
            429,
            headers={"Retry-After": "1"},
            json={"error": "Rate limit exceeded", "retry_after": 1},
        )

    calls.clear()
    with client_for(always) as vr, pytest.raises(RateLimited) as limited:
        vr.runtimes.list()
    assert len(calls) == 4  # the call and 3 retries
    assert limited.value.retry_after == 1.0

    def too_long(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(
            429, headers={"Retry-After": "3600"}, json={"error": "Rate limit exceeded"}
        )

    calls.clear()
    with client_for(too_long) as vr, pytest.raises(RateLimited):
        vr.runtimes.list()
    assert len(calls) == 1  # an hour is the caller's decision, not ours


def sse(*events: tuple[str, str, dict[str, object]]) -> bytes:
    return b"".join(
        f"event: {name}\nid: {eid}\ndata: {json.dumps(data)}\n\n".encode()
        for name, eid, data in events
    )


def test_a_dropped_log_stream_resumes_after_the_last_event() -> None:
    asked: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        asked.append(request.headers.get("Last-Event-ID"))
        headers = {"Content-Type": "text/event-stream"}
        if len(asked) == 1:  # two chunks, then the connection ends without the end event
            body = sse(
                ("stdout", "1:1", {"stream": "stdout", "seq": 1, "attempt": 1, "text": "a"}),
                ("stdout", "1:2", {"stream": "stdout", "seq": 2, "attempt": 1, "text": "b"}),
            )
        else:
            body = sse(
                ("stdout", "1:3", {"stream": "stdout", "seq": 3, "attempt": 1, "text": "c"}),
                ("end", "1:4", {"status": "completed", "return_code": 0, "seq": 4}),
            )
        return httpx.Response(200, headers=headers, content=body)

    with client_for(handler) as vr:
        events = list(vr.executions.logs(uuid.uuid4()))
    assert asked == [None, "1:2"]
    assert [e.text for e in events if e.event == "stdout"] == ["a", "b", "c"]
    assert (events[-1].event, events[-1].status, events[-1].return_code) == ("end", "completed", 0)


def test_a_stream_that_keeps_dropping_fails_clearly() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.RemoteProtocolError("peer closed connection", request=request)

    with client_for(handler) as vr, pytest.raises(ConnectionFailed, match="log stream"):
        list(vr.executions.logs(uuid.uuid4(), max_reconnects=2))


def test_a_credentials_file_others_can_read_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "credentials.json"
    CredentialsFile(path).save(Credentials(url=URL, api_key="vr_secret"))
    assert path.stat().st_mode & 0o777 == 0o600
    assert Client(credentials_file=path).base_url == URL
    path.chmod(0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        Client(credentials_file=path)


def test_an_expired_access_token_is_refreshed_before_the_call(tmp_path: Path) -> None:
    path = tmp_path / "credentials.json"
    past = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    CredentialsFile(path).save(
        Credentials(url=URL, access_token="old", refresh_token="r1", expires_at=past)
    )
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(f"{request.url.path} {request.headers.get('Authorization')}")
        if request.url.path.endswith("/refresh"):
            assert json.loads(request.content) == {"refresh_token": "r1"}
            user = {
                "id": str(uuid.uuid4()),
                "email": "a@example.com",
                "name": "A",
                "role": "user",
                "created_at": NOW,
                "updated_at": NOW,
            }
            return httpx.Response(
                200,
                json={
                    "access_token": "new",
                    "refresh_token": "r2",
                    "token_type": "Bearer",
                    "expires_in": 900,
                    "user": user,
                },
            )
        return httpx.Response(200, json={"runtimes": []})

    with Client(credentials_file=path, transport=httpx.MockTransport(handler)) as vr:
        vr.runtimes.list()
    assert seen == ["/api/v1/auth/refresh None", "/api/v1/runtimes Bearer new"]
    stored = CredentialsFile(path).load()
    assert stored is not None
    assert (stored.access_token, stored.refresh_token) == ("new", "r2")

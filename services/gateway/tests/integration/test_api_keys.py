"""API keys and password change through the real gateway, auth service, PostgreSQL and NATS."""

from __future__ import annotations

import asyncio
import datetime as dt
import socket
import time
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest

from voidrunner.devstack.credentials import Credentials

PASSWORD = "Sup3r-secret!"
Headers = dict[str, str]
KEYS = "/api/v1/auth/api-keys"
NEW_TASK = {"name": "k", "script_content": "print(1)", "script_type": "python"}


@pytest.fixture
def gateway_settings_overrides() -> dict[str, Any]:
    return {"api_key_touch_seconds": 0.2}


async def make_key(client: httpx.AsyncClient, headers: Headers, **body: Any) -> dict[str, Any]:
    resp = await client.post(
        KEYS, json={"name": "ci", "scopes": ["manage"], **body}, headers=headers
    )
    assert resp.status_code == 201, resp.text
    created: dict[str, Any] = resp.json()
    return created


async def sign_up(client: httpx.AsyncClient, name: str) -> Headers:
    email = f"{name}-{time.monotonic_ns()}@example.com"
    resp = await client.post(
        "/api/v1/auth/register", json={"email": email, "password": PASSWORD, "name": name}
    )
    assert resp.status_code == 201, resp.text
    return bearer(resp.json()["access_token"])


def bearer(key: str) -> Headers:
    return {"Authorization": f"Bearer {key}"}


async def test_create_list_use_and_revoke(client: httpx.AsyncClient, alice: Headers) -> None:
    created = await make_key(client, alice, scopes=["read", "run"])
    assert created["key"].startswith("vr_")
    assert created["prefix"] == created["key"][:11]
    assert created["scopes"] == ["read", "run"]
    assert created["last_used_at"] is None
    listed = (await client.get(KEYS, headers=alice)).json()
    assert [k["id"] for k in listed["api_keys"]] == [created["id"]]
    assert "key" not in listed["api_keys"][0]
    assert listed["pagination"] == {"has_more": False, "next_cursor": None}
    me = await client.get("/api/v1/auth/me", headers=bearer(created["key"]))
    assert me.status_code == 200, me.text
    assert (await client.delete(f"{KEYS}/{created['id']}", headers=alice)).status_code == 204
    assert (await client.get(KEYS, headers=alice)).json()["api_keys"] == []
    refused = await client.get("/api/v1/auth/me", headers=bearer(created["key"]))
    assert (refused.status_code, refused.json()) == (401, {"error": "Invalid or expired token"})


async def test_pages_newest_first(client: httpx.AsyncClient, alice: Headers) -> None:
    ids = [(await make_key(client, alice, name=f"k{i}"))["id"] for i in range(3)]
    first = (await client.get(KEYS, params={"limit": 2}, headers=alice)).json()
    assert [k["id"] for k in first["api_keys"]] == ids[:0:-1]
    assert first["pagination"]["has_more"] is True
    cursor = first["pagination"]["next_cursor"]
    rest = (await client.get(KEYS, params={"limit": 2, "cursor": cursor}, headers=alice)).json()
    assert [k["id"] for k in rest["api_keys"]] == ids[:1]


async def test_bad_bodies_and_ids(client: httpx.AsyncClient, alice: Headers, bob: Headers) -> None:
    past = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).isoformat()
    for body in (
        {"name": " ", "scopes": ["read"]},
        {"name": "x" * 101, "scopes": ["read"]},
        {"name": "k", "scopes": []},
        {"name": "k", "scopes": ["read", "read"]},
        {"name": "k", "scopes": ["root"]},
        {"name": "k", "scopes": ["read"], "expires_at": past},
        {"name": "k", "scopes": ["read"], "expires_at": "tomorrow"},
        {"name": "k", "scopes": ["read"], "expires_at": "9999-12-31T23:59:59-01:00"},
        {"name": "k", "scopes": ["read"], "expires_at": 1999999999},
        {"name": "k\u0000", "scopes": ["read"]},
    ):
        resp = await client.post(KEYS, json=body, headers=alice)
        assert resp.status_code == 400, (body, resp.text)
        assert resp.json()["error"] == "Validation failed", body
    for cursor in ("nope", "MjAyMC0wMS0wMXx4"):
        page = await client.get(KEYS, params={"cursor": cursor}, headers=alice)
        assert (page.status_code, page.json()) == (400, {"error": "Invalid cursor"}), cursor
    bad = await client.delete(f"{KEYS}/nope", headers=alice)
    assert (bad.status_code, bad.json()) == (400, {"error": "Invalid API key ID format"})
    theirs = await make_key(client, bob)
    other = await client.delete(f"{KEYS}/{theirs['id']}", headers=alice)
    assert (other.status_code, other.json()) == (404, {"error": "API key not found"})
    again = await client.delete(f"{KEYS}/{theirs['id']}", headers=bob)
    assert again.status_code == 204
    gone = await client.delete(f"{KEYS}/{theirs['id']}", headers=bob)
    assert gone.status_code == 404


async def test_scopes_are_enforced(client: httpx.AsyncClient, alice: Headers) -> None:
    read = bearer((await make_key(client, alice, scopes=["read"]))["key"])
    run = bearer((await make_key(client, alice, scopes=["run"]))["key"])
    insufficient = {"error": "Insufficient scope"}
    assert (await client.get("/api/v1/tasks", headers=read)).status_code == 200
    refused = await client.post("/api/v1/tasks", json=NEW_TASK, headers=read)
    assert (refused.status_code, refused.json()) == (403, insufficient)
    assert (await client.post("/api/v1/tasks", json=NEW_TASK, headers=run)).status_code == 201
    no_keys = await client.post(KEYS, json={"name": "k", "scopes": ["read"]}, headers=run)
    assert (no_keys.status_code, no_keys.json()) == (403, insufficient)
    listing = await client.get(KEYS, headers=run)
    assert listing.status_code == 200


async def test_expired_key_is_refused(client: httpx.AsyncClient, alice: Headers) -> None:
    soon = (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)).isoformat()
    key = bearer((await make_key(client, alice, expires_at=soon))["key"])
    assert (await client.get("/api/v1/auth/me", headers=key)).status_code == 200
    await asyncio.sleep(1.2)
    refused = await client.get("/api/v1/auth/me", headers=key)
    assert (refused.status_code, refused.json()) == (401, {"error": "Invalid or expired token"})


async def test_forged_key_is_refused(client: httpx.AsyncClient, alice: Headers) -> None:
    real = (await make_key(client, alice))["key"]
    forged = real[:26] + ("A" if real[26] != "A" else "B") + real[27:]
    for token in (forged, real[:-1], "vr_", real + "x"):
        resp = await client.get("/api/v1/auth/me", headers=bearer(token))
        assert resp.status_code == 401, token


async def test_secret_is_hashed_at_rest_and_last_use_recorded(
    client: httpx.AsyncClient, alice: Headers, database_url: str
) -> None:
    created = await make_key(client, alice)
    secret = created["key"][26:]
    assert (await client.get("/api/v1/tasks", headers=bearer(created["key"]))).status_code == 200
    conn = await asyncpg.connect(database_url)
    try:
        dump = await conn.fetchval("SELECT string_agg(t::text, '|') FROM api_keys t")
        assert created["id"] in dump
        assert secret not in dump
        assert created["key"] not in dump
    finally:
        await conn.close()
    deadline = time.monotonic() + 5
    while True:
        listed = (await client.get(KEYS, headers=alice)).json()["api_keys"][0]
        if listed["last_used_at"] is not None or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.1)
    assert listed["last_used_at"] is not None


async def test_password_change(client: httpx.AsyncClient) -> None:
    email = "pw-change@example.com"
    reg = await client.post(
        "/api/v1/auth/register", json={"email": email, "password": PASSWORD, "name": "p"}
    )
    caller = bearer(reg.json()["access_token"])
    login = await client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    other = bearer(login.json()["access_token"])
    key = bearer((await make_key(client, caller))["key"])
    new = "N3w-secret!!"
    body = {"current_password": PASSWORD, "new_password": new}
    by_key = await client.post("/api/v1/auth/password", json=body, headers=key)
    assert (by_key.status_code, by_key.json()) == (403, {"error": "Insufficient scope"})
    wrong = await client.post(
        "/api/v1/auth/password", json={**body, "current_password": "Wr0ng-pass!"}, headers=caller
    )
    assert (wrong.status_code, wrong.json()) == (403, {"error": "Current password is incorrect"})
    weak = await client.post(
        "/api/v1/auth/password", json={**body, "new_password": "short"}, headers=caller
    )
    assert weak.status_code == 400
    done = await client.post("/api/v1/auth/password", json=body, headers=caller)
    assert (done.status_code, done.json()) == (200, {"message": "password changed"})
    old = await client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert old.status_code == 401
    fresh = await client.post("/api/v1/auth/login", json={"email": email, "password": new})
    assert fresh.status_code == 200
    assert (await client.get("/api/v1/auth/me", headers=caller)).status_code == 200
    assert (await client.get("/api/v1/auth/me", headers=key)).status_code == 200
    deadline = time.monotonic() + 3
    while (await client.get("/api/v1/auth/me", headers=other)).status_code != 401:
        assert time.monotonic() < deadline, "the other session was not revoked"
        await asyncio.sleep(0.05)


@pytest.fixture
async def second_gateway(
    auth_addr: str, tasks_addr: str, nats_url: str, service_credentials: Credentials
) -> AsyncIterator[str]:
    """Another gateway on the same auth service and NATS (a second replica)."""
    import uvicorn

    from voidrunner.devstack.stack_fixtures import until_healthy
    from voidrunner.gateway.main import build_app, uvicorn_config
    from voidrunner.gateway.settings import GatewaySettings

    settings = GatewaySettings(
        environment="test",
        gateway_host="127.0.0.1",
        auth_addr=auth_addr,
        tasks_addr=tasks_addr,
        nats_url=nats_url,
        startup_timeout_seconds=10,
        rate_limit_enabled=False,
        **service_credentials.identity("gateway"),
    )
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    app = build_app(settings)
    server = uvicorn.Server(uvicorn_config(app, settings, port=port))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            assert not task.done(), "the second gateway did not start"
            await asyncio.sleep(0.02)
        await until_healthy(app.state.loops, "gateway")
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=15)
        sock.close()


async def test_revocation_reaches_two_gateways_within_a_second(
    client: httpx.AsyncClient, second_gateway: str
) -> None:
    alice = await sign_up(client, "alice")
    key = bearer((await make_key(client, alice))["key"])
    created = (await client.get(KEYS, headers=alice)).json()["api_keys"][0]
    async with httpx.AsyncClient(base_url=second_gateway) as other:
        assert (await other.get("/api/v1/auth/me", headers=key)).status_code == 200
        assert (await client.get("/api/v1/auth/me", headers=key)).status_code == 200
        start = time.monotonic()
        assert (await client.delete(f"{KEYS}/{created['id']}", headers=alice)).status_code == 204
        pending = {"first": client, "second": other}
        took: dict[str, float] = {}
        while pending and time.monotonic() - start < 2:
            for name, gateway in list(pending.items()):
                if (await gateway.get("/api/v1/auth/me", headers=key)).status_code == 401:
                    took[name] = time.monotonic() - start
                    del pending[name]
            await asyncio.sleep(0.01)
    assert not pending, f"still accepted by {sorted(pending)}"
    assert max(took.values()) < 1.0, took

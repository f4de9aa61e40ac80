"""The contract's conventions on every kind of bad input: error bodies, headers, limits, health."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest

GOOD = {"email": "bob@example.com", "password": "Sup3r-secret!", "name": "Bob"}
REGISTER = "/api/v1/auth/register"


async def _users(database_url: str) -> int:
    conn = await asyncpg.connect(database_url)
    try:
        count: int = await conn.fetchval("SELECT count(*) FROM users")
        return count
    finally:
        await conn.close()


@pytest.mark.parametrize(
    ("content", "details_hint"),
    [
        (b"{not json", "JSON"),
        (b'{"email": "a@b.co", ', "JSON"),
        (b"\xff\xfe\xfa invalid utf-8", ""),
        (b"[1, 2, 3]", ""),
        (b"", ""),
        (b'"just a string"', ""),
    ],
)
async def test_malformed_bodies_are_400_invalid_request_format(
    client: httpx.AsyncClient, database_url: str, content: bytes, details_hint: str
) -> None:
    resp = await client.post(
        REGISTER, content=content, headers={"Content-Type": "application/json"}
    )
    assert resp.status_code == 400, resp.text
    body = resp.json()
    assert body["error"] == "Invalid request format"
    assert details_hint in body.get("details", "")
    assert await _users(database_url) == 0


@pytest.mark.parametrize(
    ("change", "field", "tag"),
    [
        ({"email": None}, "email", "type"),
        ({"email": 42}, "email", "type"),
        ({"email": "not-an-email"}, "email", "email"),
        ({"email": "a" * 10_000 + "@example.com"}, "email", "max"),
        ({"email": "x@example.com' OR 1=1 --"}, "email", "email"),
        ({"password": "short1!A"[:6]}, "password", "min"),
        ({"password": "alllowercase1!"}, "password", "password"),
        ({"password": "ALLUPPERCASE1!"}, "password", "password"),
        ({"password": "NoDigitsHere!"}, "password", "password"),
        ({"password": "NoSpecial123"}, "password", "password"),
        ({"password": "Aa1!" * 40}, "password", "min"),
        ({"name": "   "}, "name", "required"),
        ({"name": "n" * 256}, "name", "max"),
        ({"name": ["list"]}, "name", "type"),
    ],
)
async def test_each_broken_rule_names_its_field(
    client: httpx.AsyncClient, database_url: str, change: dict[str, object], field: str, tag: str
) -> None:
    resp = await client.post(REGISTER, json={**GOOD, **change})
    assert resp.status_code == 400, resp.text
    body = resp.json()
    assert body["error"] == "Validation failed"
    [item] = body["validation_errors"]
    assert item["field"] == field
    assert item["tag"] == tag
    assert item["message"].startswith(f"{field} ")
    if field == "password":
        assert item["value"] == ""  # never echo passwords
    assert await _users(database_url) == 0


async def test_missing_fields_are_each_reported(client: httpx.AsyncClient) -> None:
    resp = await client.post(REGISTER, json={})
    assert resp.status_code == 400
    fields = {e["field"]: (e["tag"], e["message"]) for e in resp.json()["validation_errors"]}
    assert fields == {
        "email": ("required", "email is required"),
        "password": ("required", "password is required"),
        "name": ("required", "name is required"),
    }


async def test_unicode_and_sql_looking_names_are_stored_verbatim(client: httpx.AsyncClient) -> None:
    name = "Zoë 李小龙 🚀 Robert'); DROP TABLE users;--"
    resp = await client.post(REGISTER, json={**GOOD, "name": name})
    assert resp.status_code == 201, resp.text
    token = resp.json()["access_token"]
    me = await client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert me.json()["user"]["name"] == name


async def test_duplicate_email_is_409_case_insensitive(
    client: httpx.AsyncClient, database_url: str
) -> None:
    assert (await client.post(REGISTER, json=GOOD)).status_code == 201
    dup = await client.post(REGISTER, json={**GOOD, "email": "BOB@Example.com"})
    assert dup.status_code == 409
    assert dup.json() == {"error": "User with this email already exists"}
    assert await _users(database_url) == 1


async def test_wrong_email_and_wrong_password_look_the_same(client: httpx.AsyncClient) -> None:
    assert (await client.post(REGISTER, json=GOOD)).status_code == 201
    wrong_pw = await client.post(
        "/api/v1/auth/login", json={"email": GOOD["email"], "password": "Wrong-pass1!"}
    )
    no_user = await client.post(
        "/api/v1/auth/login", json={"email": "nobody@example.com", "password": "Wrong-pass1!"}
    )
    huge = await client.post(
        "/api/v1/auth/login", json={"email": "e" * 1000 + "@x.io", "password": "p" * 1000}
    )
    for resp in (wrong_pw, no_user, huge):
        assert resp.status_code == 401
        assert resp.json() == {"error": "Invalid email or password"}


async def test_body_limit_is_413_with_and_without_content_length(
    client: httpx.AsyncClient, database_url: str
) -> None:
    big = b'{"email": "' + b"a" * (10 * 1024 * 1024) + b'"}'
    resp = await client.post(REGISTER, content=big, headers={"Content-Type": "application/json"})
    assert resp.status_code == 413
    assert resp.json() == {"error": "Request body too large. Maximum size: 1048576 bytes"}

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(20):
            yield b"x" * 100_000

    chunked = await client.post(
        REGISTER, content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert chunked.status_code == 413
    assert await _users(database_url) == 0


async def test_unknown_route_and_wrong_method_are_json(client: httpx.AsyncClient) -> None:
    missing = await client.get("/api/v1/nope")
    assert missing.status_code == 404
    assert missing.json() == {"error": "Not found"}
    wrong = await client.delete("/api/v1/auth/register")
    assert wrong.status_code == 405
    assert wrong.json() == {"error": "Method not allowed"}
    assert wrong.headers["allow"] == "POST"


async def test_request_id_and_security_headers(client: httpx.AsyncClient) -> None:
    resp = await client.get("/api/v1/ping", headers={"X-Request-ID": "abc-123"})
    assert resp.json() == {"message": "pong"}
    assert resp.headers["x-request-id"] == "abc-123"
    assert resp.headers["x-content-type-options"] == "nosniff"
    assert resp.headers["x-frame-options"] == "DENY"
    assert resp.headers["referrer-policy"] == "strict-origin-when-cross-origin"
    assert resp.headers["content-security-policy"] == "default-src 'self'"
    fresh = await client.get("/api/v1/ping", headers={"X-Request-ID": "bad id\twith junk"})
    assert fresh.headers["x-request-id"] != "bad id\twith junk"
    assert len(fresh.headers["x-request-id"]) == 36
    error = await client.get("/nothing-here")
    assert "x-request-id" in error.headers
    assert error.headers["x-frame-options"] == "DENY"


async def test_cors_from_settings(client: httpx.AsyncClient) -> None:
    pre = await client.options(
        "/api/v1/auth/login",
        headers={"Origin": "http://localhost:3000", "Access-Control-Request-Method": "POST"},
    )
    assert pre.status_code == 200
    assert pre.headers["access-control-allow-origin"] == "http://localhost:3000"
    assert pre.headers["access-control-allow-credentials"] == "true"
    actual = await client.get("/api/v1/ping", headers={"Origin": "http://localhost:3000"})
    assert "X-Request-ID" in actual.headers["access-control-expose-headers"]
    evil = await client.get("/api/v1/ping", headers={"Origin": "http://evil.example"})
    assert "access-control-allow-origin" not in evil.headers


# The stack fixtures now run a real tasks service; point this test at a dead address instead.
@pytest.mark.parametrize("tasks_addr", ["127.0.0.1:9"])
async def test_health_ready_docs(client: httpx.AsyncClient) -> None:
    health = (await client.get("/health")).json()
    assert health["status"] == "ok"
    assert health["service"] == "voidrunner-gateway"
    assert health["timestamp"].endswith("Z")
    ready = await client.get("/ready")
    body = ready.json()
    # The tasks service is not running in this test: readiness must say so.
    assert ready.status_code == 503
    assert body["status"] == "not ready"
    assert body["checks"]["auth"] == "ok"
    assert body["checks"]["nats"] == "ok"
    assert body["checks"]["tasks"] == "unavailable"
    docs = await client.get("/docs")
    assert docs.status_code == 200
    assert "swagger" in docs.text.lower()
    spec = (await client.get("/openapi.json")).json()
    register = spec["paths"]["/api/v1/auth/register"]["post"]
    assert "201" in register["responses"]
    assert "RegisterRequest" in str(register["requestBody"])
    assert "ErrorBody" in str(register["responses"]["400"])

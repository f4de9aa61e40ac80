"""Browser sessions (/api/v1/auth/session): the refresh token lives in an httpOnly cookie that
only these routes read, every call needs the CSRF header and a JSON body, a cookie is single
use like any refresh token, and signing out clears it and revokes its session."""

from __future__ import annotations

import asyncio
import uuid
from http.cookies import SimpleCookie

import httpx
import pytest

from voidrunner.gateway.routes.session import COOKIE, cleared_cookie, refresh_cookie

SESSION = "/api/v1/auth/session"
CSRF = {"X-VoidRunner-CSRF": "1"}
PASSWORD = "Sup3r-secret!"


def _cookie(resp: httpx.Response) -> tuple[str, dict[str, str]]:
    """The refresh cookie's value and attributes (lower-cased names) in a response."""
    header = resp.headers["set-cookie"]
    parsed = SimpleCookie()
    parsed.load(header)
    morsel = parsed[COOKIE]
    flags = {part.strip().lower() for part in header.split(";")}
    attributes = {k: str(v) for k, v in morsel.items() if v}
    attributes |= {f: "" for f in ("httponly", "secure") if f in flags}
    return morsel.value, attributes


def _with(cookie: str) -> dict[str, str]:
    return {**CSRF, "Cookie": f"{COOKIE}={cookie}"}


async def _signed_up(client: httpx.AsyncClient) -> tuple[dict[str, object], str]:
    email = f"web-{uuid.uuid4().hex[:8]}@example.com"
    resp = await client.post(
        f"{SESSION}/register",
        json={"email": email, "password": PASSWORD, "name": "Web"},
        headers=CSRF,
    )
    assert resp.status_code == 201, resp.text
    value, _ = _cookie(resp)
    body: dict[str, object] = resp.json()
    return body, value


async def test_sign_in_sets_a_strict_http_only_cookie_and_returns_the_access_token_only(
    client: httpx.AsyncClient,
) -> None:
    body, _ = await _signed_up(client)
    assert "refresh_token" not in body
    user = body["user"]
    assert isinstance(user, dict)
    resp = await client.post(
        SESSION, json={"email": user["email"], "password": PASSWORD}, headers=CSRF
    )
    assert resp.status_code == 200, resp.text
    assert set(resp.json()) == {"access_token", "token_type", "expires_in", "user"}
    assert resp.headers["cache-control"] == "no-store"
    value, attributes = _cookie(resp)
    assert value.count(".") == 2  # a JWT
    assert attributes["path"] == SESSION
    assert attributes["samesite"] == "Strict"
    assert "httponly" in attributes
    assert "secure" not in attributes  # plain HTTP here; see the unit test for TLS
    assert 6 * 86_400 < int(attributes["max-age"]) <= 7 * 86_400
    me = await client.get(
        "/api/v1/auth/me", headers={"Authorization": f"Bearer {resp.json()['access_token']}"}
    )
    assert me.status_code == 200


async def test_refresh_rotates_the_cookie_and_a_reused_one_ends_the_session(
    client: httpx.AsyncClient,
) -> None:
    _, first = await _signed_up(client)
    refreshed = await client.post(f"{SESSION}/refresh", headers=_with(first))
    assert refreshed.status_code == 200, refreshed.text
    second, _ = _cookie(refreshed)
    assert second != first
    token = refreshed.json()["access_token"]
    reused = await client.post(f"{SESSION}/refresh", headers=_with(first))
    assert reused.status_code == 401
    assert reused.json() == {"error": "Invalid refresh token"}
    cleared, attributes = _cookie(reused)
    assert (cleared, attributes["max-age"]) == ("", "0")
    # Reuse revoked the whole session: the newer cookie and its access token are dead too.
    assert (await client.post(f"{SESSION}/refresh", headers=_with(second))).status_code == 401
    me = await client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 401


async def test_refresh_without_a_cookie_is_refused(client: httpx.AsyncClient) -> None:
    resp = await client.post(f"{SESSION}/refresh", headers=CSRF)
    assert resp.status_code == 401
    assert resp.json() == {"error": "Invalid refresh token"}
    assert resp.headers["www-authenticate"] == "Bearer"
    assert _cookie(resp)[1]["max-age"] == "0"


async def test_sign_out_clears_the_cookie_and_revokes_the_session(
    client: httpx.AsyncClient,
) -> None:
    body, cookie = await _signed_up(client)
    token = body["access_token"]
    out = await client.delete(SESSION, headers=_with(cookie))
    assert out.status_code == 200
    assert out.json() == {"message": "logged out successfully"}
    assert _cookie(out)[0] == ""
    assert _cookie(out)[1]["max-age"] == "0"
    # The access token stops once the revocation reaches this gateway through NATS (moments;
    # longer on a loaded machine).
    for _ in range(100):
        me = await client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
        if me.status_code == 401:
            break
        await asyncio.sleep(0.05)
    assert me.status_code == 401
    assert (await client.post(f"{SESSION}/refresh", headers=_with(cookie))).status_code == 401
    # Signing out without a session is fine too.
    assert (await client.delete(SESSION, headers=CSRF)).status_code == 200


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", SESSION),
        ("POST", f"{SESSION}/register"),
        ("POST", f"{SESSION}/refresh"),
        ("DELETE", SESSION),
    ],
)
async def test_every_session_route_demands_the_csrf_header(
    client: httpx.AsyncClient, method: str, path: str
) -> None:
    _, cookie = await _signed_up(client)
    for headers in ({}, {"X-VoidRunner-CSRF": "0"}):
        resp = await client.request(
            method,
            path,
            json={"email": "a@example.com", "password": PASSWORD, "name": "A"},
            headers={**headers, "Cookie": f"{COOKIE}={cookie}"},
        )
        assert resp.status_code == 403, (path, resp.text)
        assert resp.json()["error"] == "CSRF check failed"
        assert "set-cookie" not in resp.headers
    # The cookie was not used up by the refused calls.
    assert (await client.post(f"{SESSION}/refresh", headers=_with(cookie))).status_code == 200


@pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded", "text/plain"])
async def test_session_routes_take_json_bodies_only(
    client: httpx.AsyncClient, content_type: str
) -> None:
    # What a cross-site form could post (its types need no CORS preflight).
    resp = await client.post(
        SESSION,
        content=b'{"email": "a@example.com", "password": "x"}',
        headers={**CSRF, "Content-Type": content_type},
    )
    assert resp.status_code == 415
    lenient = await client.post(
        "/api/v1/auth/login",
        content=b'{"email": "a@example.com", "password": "x"}',
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert lenient.status_code == 401  # the control: the API routes keep curl's leniency


async def test_the_session_header_is_not_allowed_cross_origin(client: httpx.AsyncClient) -> None:
    pre = await client.options(
        SESSION,
        headers={
            "Origin": "https://evil.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "x-voidrunner-csrf,content-type",
        },
    )
    assert pre.status_code == 400
    assert "access-control-allow-origin" not in pre.headers


def test_cookies_are_secure_under_tls() -> None:
    assert refresh_cookie("a.b.c", secure=True).endswith("; Secure")
    assert "Secure" not in refresh_cookie("a.b.c", secure=False)
    assert cleared_cookie(secure=True) == (
        f"{COOKIE}=; Path={SESSION}; Max-Age=0; HttpOnly; SameSite=Strict; Secure"
    )

"""Rotation, reuse detection, revocation and hostile tokens, end to end through the gateway."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from voidrunner.auth.keys import SigningKey

PASSWORD = "Sup3r-secret!"
INVALID = {"error": "Invalid or expired token"}


async def _register(client: httpx.AsyncClient, email: str = "eve@example.com") -> dict[str, Any]:
    resp = await client.post(
        "/api/v1/auth/register", json={"email": email, "password": PASSWORD, "name": "Eve"}
    )
    assert resp.status_code == 201, resp.text
    body: dict[str, Any] = resp.json()
    return body


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _me(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.get("/api/v1/auth/me", headers=_bearer(token))


async def test_refresh_tokens_are_single_use_and_reuse_revokes_the_family(
    client: httpx.AsyncClient,
) -> None:
    first = await _register(client)
    second = (
        await client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    ).json()
    assert (await _me(client, second["access_token"])).status_code == 200

    # Replaying the used token is reuse: refused, and the whole family dies with it.
    replay = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]}
    )
    assert replay.status_code == 401
    assert replay.json() == {"error": "Invalid refresh token"}
    later = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": second["refresh_token"]}
    )
    assert later.status_code == 401
    await _eventually_rejected(client, second["access_token"])


async def _eventually_rejected(client: httpx.AsyncClient, token: str) -> None:
    # Revocations reach the gateway through a NATS KV watch: allow it a moment to arrive.
    for _ in range(100):
        resp = await _me(client, token)
        if resp.status_code == 401:
            assert resp.json() == INVALID
            return
        await asyncio.sleep(0.05)
    raise AssertionError("revoked access token still accepted")


async def test_logout_revokes_access_and_refresh_tokens(client: httpx.AsyncClient) -> None:
    session = await _register(client)
    other = (
        await client.post(
            "/api/v1/auth/login", json={"email": "eve@example.com", "password": PASSWORD}
        )
    ).json()
    out = await client.post("/api/v1/auth/logout", headers=_bearer(session["access_token"]))
    assert out.status_code == 200
    await _eventually_rejected(client, session["access_token"])
    refused = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": session["refresh_token"]}
    )
    assert refused.status_code == 401
    # Another session of the same user is untouched.
    assert (await _me(client, other["access_token"])).status_code == 200


async def test_logout_is_always_200(client: httpx.AsyncClient) -> None:
    attempts: tuple[dict[str, Any], ...] = (
        {},
        {"json": {}},
        {"json": {"refresh_token": "garbage"}},
        {"headers": _bearer("garbage")},
    )
    for kwargs in attempts:
        resp = await client.post("/api/v1/auth/logout", **kwargs)
        assert resp.status_code == 200, (kwargs, resp.text)


def _claims(user_id: str, **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "iss": "voidrunner",
        "aud": "voidrunner-api",
        "sub": user_id,
        "user_id": user_id,
        "email": "eve@example.com",
        "role": "user",
        "type": "access",
        "sid": str(uuid.uuid4()),
        "jti": str(uuid.uuid4()),
        "iat": now,
        "nbf": now,
        "exp": now + 600,
    }
    claims.update(overrides)
    return claims


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def _hs256(claims: dict[str, Any], kid: str, secret: bytes) -> str:
    # The classic algorithm-confusion forgery: HMAC keyed with the (public) verification key.
    signing_input = f"{_b64({'alg': 'HS256', 'typ': 'JWT', 'kid': kid})}.{_b64(claims)}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{base64.urlsafe_b64encode(mac).decode().rstrip('=')}"


async def test_hostile_tokens_are_rejected(client: httpx.AsyncClient, tmp_path: Path) -> None:
    session = await _register(client)
    user_id = session["user"]["id"]
    real = SigningKey.from_pem((tmp_path / "auth" / "key.pem").read_text())
    good = jwt.encode(
        _claims(user_id), real.private_key, algorithm="EdDSA", headers={"kid": real.kid}
    )
    assert (await _me(client, good)).status_code == 200  # positive control: our forgery kit works

    # The gateway verifies (and remembers) the genuine token first: its tampered variants below
    # share its prefix and must still be refused.
    assert (await _me(client, session["access_token"])).status_code == 200
    head, body, sig = session["access_token"].split(".")
    tampered_claims = json.loads(base64.urlsafe_b64decode(body + "=="))
    tampered_claims["sub"] = str(uuid.uuid4())
    stranger = Ed25519PrivateKey.generate()
    hostile = {
        "tampered payload": f"{head}.{_b64(tampered_claims)}.{sig}",
        "tampered signature": f"{head}.{body}.{sig[:-4]}AAAA",
        "expired": jwt.encode(
            _claims(user_id, exp=int(time.time()) - 60),
            real.private_key,
            algorithm="EdDSA",
            headers={"kid": real.kid},
        ),
        "not yet valid": jwt.encode(
            _claims(user_id, nbf=int(time.time()) + 600),
            real.private_key,
            algorithm="EdDSA",
            headers={"kid": real.kid},
        ),
        "other key same kid": jwt.encode(
            _claims(user_id), stranger, algorithm="EdDSA", headers={"kid": real.kid}
        ),
        "refresh token as access": session["refresh_token"],
        "wrong audience": jwt.encode(
            _claims(user_id, aud="someone-else"),
            real.private_key,
            algorithm="EdDSA",
            headers={"kid": real.kid},
        ),
        "wrong issuer": jwt.encode(
            _claims(user_id, iss="evil"),
            real.private_key,
            algorithm="EdDSA",
            headers={"kid": real.kid},
        ),
        "alg none": ".".join(
            [_b64({"alg": "none", "typ": "JWT", "kid": real.kid}), _b64(_claims(user_id)), ""]
        ),
        "hs256 with public key": _hs256(_claims(user_id), real.kid, real.public_key_pem.encode()),
        "missing sid": jwt.encode(
            {k: v for k, v in _claims(user_id).items() if k != "sid"},
            real.private_key,
            algorithm="EdDSA",
            headers={"kid": real.kid},
        ),
        "garbage": "not.a.jwt",
    }
    for name, token in hostile.items():
        resp = await _me(client, token)
        assert resp.status_code == 401, name
        assert resp.json() == INVALID, name


async def test_authorization_header_shapes(client: httpx.AsyncClient) -> None:
    session = await _register(client)
    token = session["access_token"]
    for header in (
        {},
        {"Authorization": token},
        {"Authorization": f"Basic {token}"},
        {"Authorization": "Bearer"},
        {"Authorization": f"bearer  {token}"},
    ):
        resp = await client.get("/api/v1/auth/me", headers=header)
        assert resp.status_code == 401, header
        assert resp.json() == {"error": "authorization header required"}, header

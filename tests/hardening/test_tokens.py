"""Token tampering on every protected operation, not only /auth/me.

services/gateway/tests/integration/test_auth_tokens.py proves the verifier rejects the classic
forgeries on one route; this sweep sends them, and a few header-injection forgeries more, to
every operation of the live OpenAPI document that needs a bearer token: each must answer 401 with
the contract's text, before any work is done.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwt.algorithms import OKPAlgorithm

from tests.hardening.users import API, User, create_task
from voidrunner.auth.keys import SigningKey

pytestmark = pytest.mark.hardening(suite="api/tokens")

INVALID = {"error": "Invalid or expired token"}
REQUIRED = {"error": "authorization header required"}
PUBLIC = {
    ("GET", "/health"),
    ("GET", "/ready"),
    ("GET", f"{API}/ping"),
    ("POST", f"{API}/auth/register"),
    ("POST", f"{API}/auth/login"),
    ("POST", f"{API}/auth/refresh"),
    ("POST", f"{API}/auth/logout"),  # optional auth: always 200
    # Browser sessions sign in with a password or a cookie, never a bearer token.
    ("POST", f"{API}/auth/session"),
    ("POST", f"{API}/auth/session/register"),
    ("POST", f"{API}/auth/session/refresh"),
    ("DELETE", f"{API}/auth/session"),
}


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def _claims(user: User, **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "iss": "voidrunner",
        "aud": "voidrunner-api",
        "sub": user.id,
        "user_id": user.id,
        "email": user.email,
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


def _forgeries(alice: User, bob: User, key: SigningKey, logged_out: str) -> dict[str, str]:
    """Tokens that must never authenticate, by name."""
    head, body, sig = alice.access_token.split(".")
    as_bob = json.loads(base64.urlsafe_b64decode(body + "=="))
    as_bob.update(sub=bob.id, user_id=bob.id, email=bob.email)
    as_admin = json.loads(base64.urlsafe_b64decode(body + "=="))
    as_admin["role"] = "admin"
    stranger = Ed25519PrivateKey.generate()
    stranger_jwk = json.loads(OKPAlgorithm.to_jwk(stranger.public_key()))
    stranger_pem = stranger.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )

    def signed_by_stranger(**headers: Any) -> str:
        return jwt.encode(_claims(alice), stranger, algorithm="EdDSA", headers=headers)

    return {
        "payload swapped to another user": f"{head}.{_b64(as_bob)}.{sig}",
        "role raised to admin": f"{head}.{_b64(as_admin)}.{sig}",
        "signature of another token": f"{head}.{body}.{bob.access_token.split('.')[2]}",
        "alg none": ".".join(
            [_b64({"alg": "none", "typ": "JWT", "kid": key.kid}), _b64(_claims(alice)), ""]
        ),
        "embedded jwk header": signed_by_stranger(kid=key.kid, jwk=stranger_jwk),
        "jku header": signed_by_stranger(kid=key.kid, jku="http://127.0.0.1:9/keys.json"),
        "x5c header": signed_by_stranger(
            kid=key.kid, x5c=[base64.b64encode(stranger_pem).decode()]
        ),
        "kid path traversal": signed_by_stranger(kid="../../../../dev/null"),
        "unknown kid": signed_by_stranger(kid="nope"),
        "expired": jwt.encode(
            _claims(alice, exp=int(time.time()) - 5),
            key.private_key,
            algorithm="EdDSA",
            headers={"kid": key.kid},
        ),
        "refresh token as access": alice.refresh_token,
        "logged-out session": logged_out,
        "oversized": "a" * 6000 + "." + "b" * 6000 + "." + "c" * 6000,
        "not base64": "%%%.%%%.%%%",
    }


async def test_every_protected_operation_rejects_forged_tokens(
    client: httpx.AsyncClient, alice: User, bob: User, tmp_path: Path, hardening_counters: Any
) -> None:
    key = SigningKey.from_pem((tmp_path / "auth" / "key.pem").read_text())
    task = await create_task(client, alice)
    execution = (
        await client.post(f"{API}/tasks/{task['id']}/executions", headers=alice.auth)
    ).json()
    ids = {
        "task_id": task["id"],
        "execution_id": execution["id"],
        "api_key_id": str(uuid.uuid4()),
        "webhook_id": str(uuid.uuid4()),
        "delivery_id": str(uuid.uuid4()),
    }
    session = await client.post(
        f"{API}/auth/login", json={"email": alice.email, "password": "Sup3r-secret!"}
    )
    logged_out = session.json()["access_token"]
    assert (await client.post(f"{API}/auth/logout", headers=_bearer(logged_out))).status_code == 200
    forgeries = _forgeries(alice, bob, key, logged_out) | await _bad_api_keys(client, alice)

    schema = (await client.get("/openapi.json")).json()
    protected = [
        (method.upper(), path)
        for path, item in schema["paths"].items()
        for method in item
        if (method.upper(), path) not in PUBLIC
    ]
    assert len(protected) >= 13, protected
    # Positive control: the real token gets through on a protected route.
    assert (await client.get(f"{API}/auth/me", headers=alice.auth)).status_code == 200

    failures = []
    cases = 0
    for method, path in protected:
        url = path.format(**ids)
        for name, token in forgeries.items():
            cases += 1
            resp = await client.request(method, url, headers=_bearer(token), json={}, timeout=5)
            if (resp.status_code, resp.json()) != (401, INVALID):
                failures.append(f"{method} {path} [{name}]: {resp.status_code} {resp.text}")
        # A token anywhere but the Authorization header does not count.
        cases += 1
        resp = await client.request(
            method,
            url,
            params={"access_token": alice.access_token},
            headers={"Cookie": f"access_token={alice.access_token}"},
            json={},
            timeout=5,
        )
        if (resp.status_code, resp.json()) != (401, REQUIRED):
            failures.append(f"{method} {path} [token outside the header]: {resp.status_code}")
    hardening_counters.add_cases(cases)
    hardening_counters.add_contained(cases - len(failures))
    assert not failures, "\n".join(failures)
    # Nothing a forgery reached changed alice's resources.
    mine = (await client.get(f"{API}/tasks/{task['id']}", headers=alice.auth)).json()
    assert mine["name"] == task["name"]


async def _bad_api_keys(client: httpx.AsyncClient, alice: User) -> dict[str, str]:
    """`vr_` keys that must never authenticate: forged, revoked, expired."""

    async def create(**body: Any) -> dict[str, Any]:
        resp = await client.post(
            f"{API}/auth/api-keys",
            json={"name": "sweep", "scopes": ["manage"], **body},
            headers=alice.auth,
        )
        assert resp.status_code == 201, resp.text
        created: dict[str, Any] = resp.json()
        return created

    live = (await create())["key"]
    revoked = await create()
    gone = await client.delete(f"{API}/auth/api-keys/{revoked['id']}", headers=alice.auth)
    assert gone.status_code == 204
    soon = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)
    expired = (await create(expires_at=soon.isoformat()))["key"]
    # Positive control: a live key gets through.
    assert (await client.get(f"{API}/auth/me", headers=_bearer(live))).status_code == 200
    await asyncio.sleep(max(0.0, (soon - dt.datetime.now(dt.UTC)).total_seconds()) + 1.5)
    flip = "A" if live[-5] != "A" else "B"
    return {
        "api key with a forged secret": live[:-5] + flip + live[-4:],
        "api key with an unknown id": "vr_" + "A" * 22 + live[25:],
        "api key revoked": revoked["key"],
        "api key expired": expired,
        "api key truncated": live[:-1],
        "bare api key prefix": "vr_",
    }


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}

"""Per-IP rate limits count the real peer unless a trusted proxy says otherwise."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

BODY = {"email": "nobody@example.com", "password": "Wrong-pass1!"}


@pytest.fixture
def gateway_settings_overrides() -> dict[str, Any]:
    return {"rate_limit_login": 2}


async def test_forwarded_for_from_an_untrusted_peer_does_not_dodge_the_ip_limit(
    client: httpx.AsyncClient,
) -> None:
    codes = []
    for n in range(4):
        resp = await client.post(
            "/api/v1/auth/login", json=BODY, headers={"X-Forwarded-For": f"203.0.113.{n}"}
        )
        codes.append(resp.status_code)
    assert codes == [401, 401, 429, 429]


@pytest.mark.parametrize(
    "gateway_settings_overrides", [{"rate_limit_login": 2, "trusted_proxies": "127.0.0.1"}]
)
async def test_a_trusted_proxy_names_the_client(client: httpx.AsyncClient) -> None:
    for n in range(4):  # four different clients behind the proxy: none is over its limit
        resp = await client.post(
            "/api/v1/auth/login", json=BODY, headers={"X-Forwarded-For": f"203.0.113.{n}"}
        )
        assert resp.status_code == 401

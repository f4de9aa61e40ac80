"""A bug's 500 is the contract's body with the headers every response carries.

No request can make the real gateway fail unexpectedly (that would be a bug to fix), so this
test adds a failing route to the real app; everything else is the app as the gateway builds it.
"""

from __future__ import annotations

import httpx

from voidrunner.gateway.app import create_app
from voidrunner.gateway.settings import GatewaySettings


async def test_an_unhandled_error_is_a_json_500_with_request_id_and_security_headers() -> None:
    app = create_app(GatewaySettings())

    @app.get("/broken")
    async def broken() -> None:
        raise RuntimeError("a bug")

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
        resp = await client.get("/broken", headers={"X-Request-ID": "req-500"})
    assert resp.status_code == 500
    assert resp.json() == {"error": "Internal server error"}
    assert "a bug" not in resp.text
    assert resp.headers["content-type"] == "application/json; charset=utf-8"
    assert resp.headers["x-request-id"] == "req-500"
    assert resp.headers["x-content-type-options"] == "nosniff"
    assert resp.headers["content-security-policy"] == "default-src 'self'"

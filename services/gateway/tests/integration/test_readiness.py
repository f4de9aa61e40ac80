"""GET /ready follows the gateway's own loops and its dependencies: the whole stack starts while
NATS is away, /ready names what is down, and everything recovers by itself when NATS comes."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from voidrunner.devstack.nats import EmbeddedNats

FAST_RESTARTS = {"loop_restart_first_seconds": 0.1, "loop_restart_max_seconds": 0.5}
CHECKS = {"auth", "tasks", "nats", "revocations", "api_keys", "api_key_use", "final_notices"}


@pytest.fixture
def nats_url(nats_later: EmbeddedNats) -> str:
    """The services of this module start while NATS is not running yet."""
    return nats_later.url


@pytest.fixture
def services_wait_for_loops() -> bool:
    return False


@pytest.fixture
def auth_settings_overrides() -> dict[str, Any]:
    return FAST_RESTARTS


@pytest.fixture
def tasks_settings_overrides() -> dict[str, Any]:
    return FAST_RESTARTS


@pytest.fixture
def gateway_settings_overrides() -> dict[str, Any]:
    return FAST_RESTARTS


async def until_ready(client: httpx.AsyncClient, status: int, seconds: float = 30.0) -> Any:
    """The /ready body once it answers `status`."""
    async with asyncio.timeout(seconds):
        while (resp := await client.get("/ready")).status_code != status:
            await asyncio.sleep(0.05)
    return resp.json()


async def test_ready_names_what_is_down_and_recovers_when_nats_comes(
    client: httpx.AsyncClient, nats_later: EmbeddedNats
) -> None:
    assert (await client.get("/health")).status_code == 200  # alive, though not ready
    body = await until_ready(client, 503)
    assert body["status"] == "not ready"
    assert set(body["checks"]) == CHECKS
    # Its own loops wait for NATS, and auth and tasks report NOT_SERVING for the same reason.
    # All but the API-key use reporter, which talks to auth over gRPC only.
    assert {n for n, v in body["checks"].items() if v != "ok"} == CHECKS - {"api_key_use"}

    nats_later.start()
    body = await until_ready(client, 200)
    assert body == {"status": "ready", "checks": dict.fromkeys(CHECKS, "ok")}

    nats_later.stop()  # NATS fails under the running stack ...
    body = await until_ready(client, 503)
    assert body["checks"]["nats"] == "unavailable"
    nats_later.start()  # ... and comes back
    await until_ready(client, 200)

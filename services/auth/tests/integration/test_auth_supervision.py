"""The auth service starts while NATS is away: accounts work, grpc.health.v1 says NOT_SERVING,
and a logout made meanwhile reaches the revocation bucket once NATS comes (from PostgreSQL)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import jwt
import nats
import pytest
from nats.js.errors import KeyNotFoundError

from voidrunner.devstack.nats import EmbeddedNats
from voidrunner.devstack.stack_fixtures import health_of, until_health
from voidrunner.proto.auth.v1 import auth_pb2

if TYPE_CHECKING:
    from voidrunner.proto.auth.v1.auth_pb2_grpc import AuthServiceAsyncStub as Stub

SERVICE = auth_pb2.DESCRIPTOR.services_by_name["AuthService"].full_name


@pytest.fixture
def nats_url(nats_later: EmbeddedNats) -> str:
    """The services of this module start while NATS is not running yet."""
    return nats_later.url


@pytest.fixture
def services_wait_for_loops() -> bool:
    return False


@pytest.fixture
def auth_settings_overrides() -> dict[str, Any]:
    return {
        "revocation_sync_seconds": 0.2,
        "loop_restart_first_seconds": 0.1,
        "loop_restart_max_seconds": 0.5,
    }


async def test_a_logout_while_nats_is_away_reaches_the_bucket_once_it_comes(
    auth: Stub, auth_addr: str, nats_later: EmbeddedNats
) -> None:
    assert await health_of(auth_addr) == "NOT_SERVING"
    assert await health_of(auth_addr, SERVICE) == "NOT_SERVING"
    created = await auth.Register(
        auth_pb2.RegisterRequest(email="ada@example.com", password="Sup3r-secret!", name="Ada")
    )
    sid = jwt.decode(created.access_token, options={"verify_signature": False})["sid"]
    await auth.Logout(auth_pb2.LogoutRequest(session_id=sid))  # NATS away: left to the sync

    nats_later.start()
    await until_health(auth_addr, "SERVING")
    async with await nats.connect(nats_later.url) as nc:
        kv = await nc.jetstream().key_value("voidrunner_revoked_sessions")
        async with asyncio.timeout(10):
            while True:
                try:
                    await kv.get(sid)
                    break
                except KeyNotFoundError:
                    await asyncio.sleep(0.05)

"""The auth rules over gRPC on the real service (PostgreSQL, NATS): accounts, rotation with reuse
detection, logout, and revocations published to the bucket gateways watch."""

from __future__ import annotations

import asyncio
import uuid
from typing import TYPE_CHECKING

import grpc
import jwt
import nats
import pytest
from nats.js.errors import KeyNotFoundError

from voidrunner.proto.auth.v1 import auth_pb2

if TYPE_CHECKING:
    from voidrunner.proto.auth.v1.auth_pb2_grpc import AuthServiceAsyncStub as Stub

PASSWORD = "Sup3r-secret!"
BUCKET = "voidrunner_revoked_sessions"


async def register(auth: Stub, email: str = "ada@example.com") -> auth_pb2.AuthResponse:
    return await auth.Register(
        auth_pb2.RegisterRequest(email=email, password=PASSWORD, name="Ada"), timeout=10
    )


def session_of(token: str) -> str:
    sid: str = jwt.decode(token, options={"verify_signature": False})["sid"]
    return sid


async def rpc_error(call: object) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call  # type: ignore[misc]
    return err.value


async def revoked_in_bucket(nats_url: str, session_id: str, seconds: float = 5.0) -> bool:
    async with await nats.connect(nats_url) as nc:
        kv = await nc.jetstream().key_value(BUCKET)
        async with asyncio.timeout(seconds):
            while True:
                try:
                    await kv.get(session_id)
                    return True
                except KeyNotFoundError:
                    await asyncio.sleep(0.05)


async def test_an_email_is_taken_once_whatever_its_case(auth: Stub) -> None:
    created = await register(auth)
    assert created.user.email == "ada@example.com"
    assert created.token_type == "Bearer"
    err = await rpc_error(register(auth, "ADA@Example.com"))
    assert (err.code(), err.details()) == (
        grpc.StatusCode.ALREADY_EXISTS,
        "User with this email already exists",
    )


async def test_a_bad_registration_is_an_invalid_argument(auth: Stub) -> None:
    short = auth_pb2.RegisterRequest(email="bob@example.com", password="short", name="Bob")
    err = await rpc_error(auth.Register(short, timeout=10))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "password" in (err.details() or "")


async def test_a_wrong_password_and_an_unknown_email_look_the_same(auth: Stub) -> None:
    await register(auth)
    ok = await auth.Login(auth_pb2.LoginRequest(email="ada@example.com", password=PASSWORD))
    assert ok.access_token
    wrong = await rpc_error(
        auth.Login(auth_pb2.LoginRequest(email="ada@example.com", password="Wrong-pass1!"))
    )
    unknown = await rpc_error(
        auth.Login(auth_pb2.LoginRequest(email="nobody@example.com", password=PASSWORD))
    )
    assert (wrong.code(), wrong.details()) == (unknown.code(), unknown.details())
    assert wrong.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_refresh_rotates_and_a_reused_token_revokes_the_session(
    auth: Stub, nats_url: str
) -> None:
    first = await register(auth)
    second = await auth.Refresh(auth_pb2.RefreshRequest(refresh_token=first.refresh_token))
    assert second.refresh_token != first.refresh_token
    assert session_of(second.access_token) == session_of(first.access_token)  # same session

    reuse = await rpc_error(
        auth.Refresh(auth_pb2.RefreshRequest(refresh_token=first.refresh_token))
    )
    assert (reuse.code(), reuse.details()) == (
        grpc.StatusCode.UNAUTHENTICATED,
        "Invalid refresh token",
    )
    # The whole session is gone: the token handed out by the rotation is refused too ...
    later = await rpc_error(
        auth.Refresh(auth_pb2.RefreshRequest(refresh_token=second.refresh_token))
    )
    assert later.code() == grpc.StatusCode.UNAUTHENTICATED
    # ... and gateways learn it from the bucket, so its access tokens stop working as well.
    assert await revoked_in_bucket(nats_url, session_of(second.access_token))


async def test_logout_revokes_one_session_and_never_fails(auth: Stub, nats_url: str) -> None:
    one = await register(auth)
    other = await auth.Login(auth_pb2.LoginRequest(email="ada@example.com", password=PASSWORD))
    await auth.Logout(auth_pb2.LogoutRequest(session_id=session_of(one.access_token)))
    assert await revoked_in_bucket(nats_url, session_of(one.access_token))
    refused = await rpc_error(
        auth.Refresh(auth_pb2.RefreshRequest(refresh_token=one.refresh_token))
    )
    assert refused.code() == grpc.StatusCode.UNAUTHENTICATED
    kept = await auth.Refresh(auth_pb2.RefreshRequest(refresh_token=other.refresh_token))
    assert kept.access_token
    for junk in (
        auth_pb2.LogoutRequest(),
        auth_pb2.LogoutRequest(refresh_token="garbage", session_id="not-a-uuid"),
        auth_pb2.LogoutRequest(session_id=str(uuid.uuid4())),
    ):
        await auth.Logout(junk)


async def test_published_keys_verify_the_tokens_it_issues(auth: Stub) -> None:
    created = await register(auth)
    keys = await auth.GetPublicKeys(auth_pb2.GetPublicKeysRequest())
    [key] = keys.keys
    assert key.algorithm == "EdDSA"
    assert jwt.get_unverified_header(created.access_token)["kid"] == key.kid
    claims = jwt.decode(
        created.access_token,
        key.public_key_pem,
        algorithms=["EdDSA"],
        audience=keys.audience,
        issuer=keys.issuer,
    )
    assert claims["user_id"] == created.user.id
    assert keys.revocation_bucket == BUCKET

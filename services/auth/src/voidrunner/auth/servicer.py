"""The AuthService gRPC servicer: protobuf in, domain calls, protobuf out. No rules here."""

from __future__ import annotations

from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from voidrunner.auth.keys import ALGORITHM, SigningKey
from voidrunner.auth.repository import UserRecord
from voidrunner.auth.service import AuthService, Session
from voidrunner.proto.auth.v1 import auth_pb2, auth_pb2_grpc

Context = Any  # grpc.aio.ServicerContext; the stubs' generics add nothing here


def _ts(value: Any) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(value)
    return ts


def user_message(user: UserRecord) -> auth_pb2.User:
    """The protobuf form of a user (never the password hash: the record has none)."""
    return auth_pb2.User(
        id=str(user.id),
        email=user.email,
        name=user.name,
        role=user.role,
        created_at=_ts(user.created_at),
        updated_at=_ts(user.updated_at),
    )


def _auth_response(session: Session) -> auth_pb2.AuthResponse:
    return auth_pb2.AuthResponse(
        access_token=session.access_token,
        refresh_token=session.refresh_token,
        token_type="Bearer",
        expires_in=session.expires_in,
        user=user_message(session.user),
    )


class AuthServicer(auth_pb2_grpc.AuthServiceServicer):
    def __init__(
        self, service: AuthService, key: SigningKey, issuer: str, audience: str, bucket: str
    ) -> None:
        self._service = service
        self._keys = auth_pb2.GetPublicKeysResponse(
            keys=[
                auth_pb2.PublicKey(
                    kid=key.kid, algorithm=ALGORITHM, public_key_pem=key.public_key_pem
                )
            ],
            issuer=issuer,
            audience=audience,
            revocation_bucket=bucket,
        )

    async def Register(
        self, request: auth_pb2.RegisterRequest, context: Context
    ) -> auth_pb2.AuthResponse:
        return _auth_response(
            await self._service.register(request.email, request.password, request.name)
        )

    async def Login(
        self, request: auth_pb2.LoginRequest, context: Context
    ) -> auth_pb2.AuthResponse:
        return _auth_response(await self._service.login(request.email, request.password))

    async def Refresh(
        self, request: auth_pb2.RefreshRequest, context: Context
    ) -> auth_pb2.AuthResponse:
        return _auth_response(await self._service.refresh(request.refresh_token))

    async def Logout(
        self, request: auth_pb2.LogoutRequest, context: Context
    ) -> auth_pb2.LogoutResponse:
        await self._service.logout(request.refresh_token, request.session_id)
        return auth_pb2.LogoutResponse()

    async def GetUser(
        self, request: auth_pb2.GetUserRequest, context: Context
    ) -> auth_pb2.GetUserResponse:
        return auth_pb2.GetUserResponse(user=user_message(await self._service.get_user(request.id)))

    async def GetPublicKeys(
        self, request: auth_pb2.GetPublicKeysRequest, context: Context
    ) -> auth_pb2.GetPublicKeysResponse:
        return self._keys

"""The AuthService gRPC servicer: protobuf in, domain calls, protobuf out. No rules here."""

from __future__ import annotations

import datetime as dt
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from voidrunner.auth.api_keys import ApiKeyService
from voidrunner.auth.keys import ALGORITHM, SigningKey
from voidrunner.auth.repository import ApiKeyRecord, UserRecord
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


def _api_key(record: ApiKeyRecord) -> auth_pb2.ApiKey:
    msg = auth_pb2.ApiKey(
        id=str(record.id),
        name=record.name,
        scopes=list(record.scopes),
        prefix=record.prefix,
        created_at=_ts(record.created_at),
    )
    if record.expires_at is not None:
        msg.expires_at.CopyFrom(_ts(record.expires_at))
    if record.last_used_at is not None:
        msg.last_used_at.CopyFrom(_ts(record.last_used_at))
    return msg


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
        self,
        service: AuthService,
        api_keys: ApiKeyService,
        key: SigningKey,
        issuer: str,
        audience: str,
        bucket: str,
        api_keys_bucket: str,
    ) -> None:
        self._service = service
        self._api_keys = api_keys
        self._keys = auth_pb2.GetPublicKeysResponse(
            keys=[
                auth_pb2.PublicKey(
                    kid=key.kid, algorithm=ALGORITHM, public_key_pem=key.public_key_pem
                )
            ],
            issuer=issuer,
            audience=audience,
            revocation_bucket=bucket,
            api_keys_bucket=api_keys_bucket,
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

    async def IssueStreamToken(
        self, request: auth_pb2.IssueStreamTokenRequest, context: Context
    ) -> auth_pb2.StreamToken:
        token, expires_in = self._service.stream_token(
            request.user_id, request.execution_id, request.session_id, request.email
        )
        return auth_pb2.StreamToken(token=token, expires_in=expires_in)

    async def CreateApiKey(
        self, request: auth_pb2.CreateApiKeyRequest, context: Context
    ) -> auth_pb2.CreatedApiKey:
        expires = (
            request.expires_at.ToDatetime(tzinfo=dt.UTC) if request.HasField("expires_at") else None
        )
        created = await self._api_keys.create(
            request.user_id, request.name, list(request.scopes), expires
        )
        return auth_pb2.CreatedApiKey(api_key=_api_key(created.record), key=created.key)

    async def ListApiKeys(
        self, request: auth_pb2.ListApiKeysRequest, context: Context
    ) -> auth_pb2.ListApiKeysResponse:
        page, cursor = await self._api_keys.page(request.user_id, request.limit, request.cursor)
        return auth_pb2.ListApiKeysResponse(
            api_keys=[_api_key(r) for r in page], next_cursor=cursor
        )

    async def RevokeApiKey(
        self, request: auth_pb2.RevokeApiKeyRequest, context: Context
    ) -> auth_pb2.RevokeApiKeyResponse:
        await self._api_keys.revoke(request.user_id, request.id)
        return auth_pb2.RevokeApiKeyResponse()

    async def TouchApiKeys(
        self, request: auth_pb2.TouchApiKeysRequest, context: Context
    ) -> auth_pb2.TouchApiKeysResponse:
        await self._api_keys.touch(list(request.ids), request.at.ToDatetime(tzinfo=dt.UTC))
        return auth_pb2.TouchApiKeysResponse()

    async def ChangePassword(
        self, request: auth_pb2.ChangePasswordRequest, context: Context
    ) -> auth_pb2.ChangePasswordResponse:
        await self._service.change_password(
            request.user_id, request.session_id, request.current_password, request.new_password
        )
        return auth_pb2.ChangePasswordResponse()

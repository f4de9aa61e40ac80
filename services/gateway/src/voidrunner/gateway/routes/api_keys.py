"""/api/v1/auth/api-keys and /api/v1/auth/password — forwarded to the auth service."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Literal

from fastapi import APIRouter, Depends, Response
from google.protobuf.timestamp_pb2 import Timestamp

from voidrunner.contracts.api_keys import Scope, effective
from voidrunner.gateway.deps import CurrentUser, Deps, SessionUser, no_store
from voidrunner.gateway.errors import ApiError
from voidrunner.gateway.params import ApiKeyId, Cursor, Limit
from voidrunner.gateway.ratelimit import per_ip, per_user
from voidrunner.gateway.schemas.api_keys import (
    ApiKey,
    ApiKeyList,
    ChangePasswordRequest,
    CreateApiKeyRequest,
    CreatedApiKey,
)
from voidrunner.gateway.schemas.common import ERROR_RESPONSES, ErrorBody, MessageBody
from voidrunner.gateway.schemas.tasks import Pagination
from voidrunner.proto.auth.v1 import auth_pb2

router = APIRouter(prefix="/api/v1/auth", tags=["api keys"], responses=ERROR_RESPONSES)
_LIMIT = per_user("api_keys")
_FORBIDDEN: dict[int | str, dict[str, Any]] = {
    403: {
        "model": ErrorBody,
        "description": "Insufficient scope (creating: the admin scope, asked by no admin)",
    }
}


def _ts(msg: auth_pb2.ApiKey, name: Literal["expires_at", "last_used_at"]) -> dt.datetime | None:
    if not msg.HasField(name):
        return None
    stamp: Timestamp = getattr(msg, name)
    return stamp.ToDatetime(tzinfo=dt.UTC)


def _fields(msg: auth_pb2.ApiKey) -> dict[str, object]:
    return {
        "id": uuid.UUID(msg.id),
        "name": msg.name,
        "scopes": [Scope(s) for s in msg.scopes],
        "prefix": msg.prefix,
        "created_at": msg.created_at.ToDatetime(tzinfo=dt.UTC),
        "expires_at": _ts(msg, "expires_at"),
        "last_used_at": _ts(msg, "last_used_at"),
    }


@router.post(
    "/api-keys",
    status_code=201,
    response_model=CreatedApiKey,
    responses=_FORBIDDEN,
    dependencies=[_LIMIT, Depends(no_store)],
)
async def create_api_key(
    body: CreateApiKeyRequest, principal: CurrentUser, deps: Deps, response: Response
) -> CreatedApiKey:
    """A new API key; `key` is shown in this response only."""
    if not effective(frozenset(body.scopes)) <= principal.scopes:
        raise ApiError(403, "Insufficient scope")
    request = auth_pb2.CreateApiKeyRequest(
        user_id=str(principal.user_id), name=body.name, scopes=[s.value for s in body.scopes]
    )
    if body.expires_at is not None:
        request.expires_at.FromDatetime(body.expires_at)
    resp = await deps.auth.CreateApiKey(request, timeout=deps.settings.rpc_timeout_seconds)
    # The key's own path: the one it is revoked at.
    response.headers["Location"] = f"{router.prefix}/api-keys/{resp.api_key.id}"
    return CreatedApiKey(**_fields(resp.api_key), key=resp.key)


@router.get("/api-keys", response_model=ApiKeyList, dependencies=[_LIMIT])
async def list_api_keys(
    principal: CurrentUser, deps: Deps, limit: Limit = 20, cursor: Cursor = None
) -> ApiKeyList:
    """The caller's API keys (not revoked ones), newest first."""
    resp = await deps.auth.ListApiKeys(
        auth_pb2.ListApiKeysRequest(
            user_id=str(principal.user_id), limit=limit, cursor=cursor or ""
        ),
        timeout=deps.settings.rpc_timeout_seconds,
    )
    return ApiKeyList(
        api_keys=[ApiKey(**_fields(k)) for k in resp.api_keys],
        pagination=Pagination(
            has_more=bool(resp.next_cursor), next_cursor=resp.next_cursor or None
        ),
    )


@router.delete(
    "/api-keys/{api_key_id}",
    status_code=204,
    responses={**_FORBIDDEN, 404: {"model": ErrorBody, "description": "API key not found"}},
    dependencies=[_LIMIT],
)
async def revoke_api_key(api_key_id: ApiKeyId, principal: CurrentUser, deps: Deps) -> None:
    """Revoke one of the caller's keys; every gateway refuses it within a second."""
    await deps.auth.RevokeApiKey(
        auth_pb2.RevokeApiKeyRequest(user_id=str(principal.user_id), id=str(api_key_id)),
        timeout=deps.settings.rpc_timeout_seconds,
    )


@router.post(
    "/password",
    response_model=MessageBody,
    responses={403: {"model": ErrorBody, "description": "Wrong current password, or an API key"}},
    dependencies=[per_ip("login")],
)
async def change_password(
    body: ChangePasswordRequest, principal: SessionUser, deps: Deps
) -> MessageBody:
    """Change the password; the user's other sessions are signed out (not this one, nor keys)."""
    await deps.auth.ChangePassword(
        auth_pb2.ChangePasswordRequest(
            user_id=str(principal.user_id),
            session_id=principal.session_id,
            current_password=body.current_password,
            new_password=body.new_password,
        ),
        timeout=deps.settings.rpc_timeout_seconds,
    )
    return MessageBody(message="password changed")

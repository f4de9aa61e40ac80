"""/api/v1/auth: register, login, refresh, logout, me — forwarded to the auth service."""

from __future__ import annotations

import datetime as dt
import uuid

from fastapi import APIRouter, Depends, Response

from voidrunner.contracts.roles import Role
from voidrunner.gateway.deps import CurrentUser, Deps, OptionalUser, no_store
from voidrunner.gateway.ratelimit import per_ip
from voidrunner.gateway.schemas.auth import (
    AuthResponse,
    LoginRequest,
    LogoutRequest,
    MeResponse,
    RefreshRequest,
    RegisterRequest,
    User,
)
from voidrunner.gateway.schemas.common import (
    ERROR_RESPONSES,
    NO_STORE_HEADER,
    ErrorBody,
    MessageBody,
)
from voidrunner.proto.auth.v1 import auth_pb2

router = APIRouter(prefix="/api/v1/auth", tags=["auth"], responses=ERROR_RESPONSES)
_TOKENS: dict[str, object] = {"headers": {"Cache-Control": NO_STORE_HEADER}}


def user_body(user: auth_pb2.User) -> User:
    """The public form of a user."""
    return User(
        id=uuid.UUID(user.id),
        email=user.email,
        name=user.name,
        role="admin" if user.role == Role.ADMIN else "user",
        created_at=user.created_at.ToDatetime(tzinfo=dt.UTC),
        updated_at=user.updated_at.ToDatetime(tzinfo=dt.UTC),
    )


def _auth_body(resp: auth_pb2.AuthResponse) -> AuthResponse:
    return AuthResponse(
        access_token=resp.access_token,
        refresh_token=resp.refresh_token,
        token_type=resp.token_type,
        expires_in=resp.expires_in,
        user=user_body(resp.user),
    )


@router.post(
    "/register",
    status_code=201,
    response_model=AuthResponse,
    responses={
        201: _TOKENS,
        409: {"model": ErrorBody, "description": "Email already registered"},
    },
    dependencies=[per_ip("register"), Depends(no_store)],
)
async def register(body: RegisterRequest, response: Response, deps: Deps) -> AuthResponse:
    """Create an account and sign in; `Location` names the new user's `/me`."""
    resp = await deps.auth.Register(
        auth_pb2.RegisterRequest(email=body.email, password=body.password, name=body.name),
        timeout=deps.settings.rpc_timeout_seconds,
    )
    response.headers["Location"] = f"{router.prefix}/me"
    return _auth_body(resp)


@router.post(
    "/login",
    response_model=AuthResponse,
    responses={200: _TOKENS},
    dependencies=[per_ip("login"), Depends(no_store)],
)
async def login(body: LoginRequest, deps: Deps) -> AuthResponse:
    """Sign in with email and password."""
    resp = await deps.auth.Login(
        auth_pb2.LoginRequest(email=body.email, password=body.password),
        timeout=deps.settings.rpc_timeout_seconds,
    )
    return _auth_body(resp)


@router.post(
    "/refresh",
    response_model=AuthResponse,
    responses={200: _TOKENS},
    dependencies=[per_ip("refresh"), Depends(no_store)],
)
async def refresh(body: RefreshRequest, deps: Deps) -> AuthResponse:
    """Exchange a refresh token (single use) for a new access and refresh token."""
    resp = await deps.auth.Refresh(
        auth_pb2.RefreshRequest(refresh_token=body.refresh_token),
        timeout=deps.settings.rpc_timeout_seconds,
    )
    return _auth_body(resp)


@router.post("/logout", response_model=MessageBody)
async def logout(
    deps: Deps, principal: OptionalUser, body: LogoutRequest | None = None
) -> MessageBody:
    """Revoke the refresh token's session and/or the bearer token's session. Always 200."""
    refresh_token = body.refresh_token if body and body.refresh_token else ""
    session_id = principal.session_id if principal else ""
    if refresh_token or session_id:
        await deps.auth.Logout(
            auth_pb2.LogoutRequest(refresh_token=refresh_token, session_id=session_id),
            timeout=deps.settings.rpc_timeout_seconds,
        )
    return MessageBody(message="logged out successfully")


@router.get("/me", response_model=MeResponse)
async def me(principal: CurrentUser, deps: Deps) -> MeResponse:
    """The signed-in user."""
    resp = await deps.auth.GetUser(
        auth_pb2.GetUserRequest(id=str(principal.user_id)),
        timeout=deps.settings.rpc_timeout_seconds,
    )
    return MeResponse(user=user_body(resp.user))

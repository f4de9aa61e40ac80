"""/api/v1/auth/session: sign-in for browsers, with the refresh token in an httpOnly cookie.

The web UI keeps its access token in memory only; what survives a reload is the refresh token,
in a cookie that script cannot read (HttpOnly), that no other site's request carries
(SameSite=Strict), that travels only over TLS when the UI is served over TLS (Secure), and only
to these routes (Path). The existing /register, /login and /refresh stay as they are for API
clients.

Cookie-authenticated routes need protection from cross-site requests beyond SameSite: every
route here demands the header `X-VoidRunner-CSRF: 1`, which a cross-site form cannot send and a
cross-site script can send only after a CORS preflight that the gateway refuses (the header is
not among the allowed ones), and accepts JSON bodies only (json_bodies.JSON_ONLY_PATHS).
"""

from __future__ import annotations

import time
from typing import Any

import grpc
import jwt
from fastapi import APIRouter, Depends, Request, Response

from voidrunner.gateway.deps import Deps, no_store
from voidrunner.gateway.errors import ApiError
from voidrunner.gateway.ratelimit import per_ip
from voidrunner.gateway.routes.auth import user_body
from voidrunner.gateway.schemas.auth import LoginRequest, RegisterRequest, SessionResponse
from voidrunner.gateway.schemas.common import (
    ERROR_RESPONSES,
    NO_STORE_HEADER,
    ErrorBody,
    MessageBody,
)
from voidrunner.proto.auth.v1 import auth_pb2

PREFIX = "/api/v1/auth/session"
COOKIE = "voidrunner_refresh"
CSRF_HEADER = "X-VoidRunner-CSRF"
# When a refresh token's expiry cannot be read, the cookie lasts as long as the auth service's
# default refresh lifetime.
FALLBACK_MAX_AGE = 7 * 86_400


async def csrf_header(request: Request) -> None:
    """Refuse requests without the custom header (see the module docstring)."""
    if request.headers.get(CSRF_HEADER) != "1":
        raise ApiError(
            403, "CSRF check failed", details=f"send the header {CSRF_HEADER}: 1 with this request"
        )


CSRF_PARAMETER = {
    "name": CSRF_HEADER,
    "in": "header",
    "required": True,
    "description": "Must be `1`: proves the request comes from a page of this origin",
    "schema": {"type": "string", "enum": ["1"]},
}
SET_COOKIE_HEADER = {
    "description": f"`{COOKIE}`: the refresh token (HttpOnly, SameSite=Strict, Path={PREFIX}, "
    "Secure under TLS); cleared (Max-Age=0) when signing out or when it is refused",
    "schema": {"type": "string"},
}
_SIGNED_IN: dict[str, Any] = {
    "headers": {"Cache-Control": NO_STORE_HEADER, "Set-Cookie": SET_COOKIE_HEADER}
}
_FORBIDDEN: dict[int | str, dict[str, object]] = {
    403: {"model": ErrorBody, "description": f"The {CSRF_HEADER} header is missing"}
}
_COOKIE_SECURITY: list[dict[str, list[str]]] = [{"sessionCookie": []}]

router = APIRouter(
    prefix=PREFIX,
    tags=["auth"],
    responses={**ERROR_RESPONSES, **_FORBIDDEN},
    dependencies=[Depends(csrf_header)],
)


def refresh_cookie(token: str, *, secure: bool) -> str:
    """The Set-Cookie value holding `token` until it expires."""
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
        max_age = max(0, int(claims["exp"]) - int(time.time()))
    except (jwt.PyJWTError, KeyError, TypeError, ValueError):
        max_age = FALLBACK_MAX_AGE
    return _cookie(token, max_age, secure=secure)


def cleared_cookie(*, secure: bool) -> str:
    """The Set-Cookie value that deletes the refresh cookie."""
    return _cookie("", 0, secure=secure)


def _cookie(value: str, max_age: int, *, secure: bool) -> str:
    # JWTs are base64url and dots, which a cookie value may hold unquoted.
    parts = [f"{COOKIE}={value}", f"Path={PREFIX}", f"Max-Age={max_age}", "HttpOnly"]
    parts += ["SameSite=Strict", *(["Secure"] if secure else [])]
    return "; ".join(parts)


def _is_tls(request: Request) -> bool:
    # Behind a trusted proxy uvicorn takes the scheme from X-Forwarded-Proto (main.py).
    return request.url.scheme == "https"


def _signed_in(
    resp: auth_pb2.AuthResponse, request: Request, response: Response
) -> SessionResponse:
    response.headers["Set-Cookie"] = refresh_cookie(resp.refresh_token, secure=_is_tls(request))
    return SessionResponse(
        access_token=resp.access_token,
        token_type=resp.token_type,
        expires_in=resp.expires_in,
        user=user_body(resp.user),
    )


@router.post(
    "",
    response_model=SessionResponse,
    responses={200: _SIGNED_IN},
    dependencies=[per_ip("login"), Depends(no_store)],
    openapi_extra={"parameters": [CSRF_PARAMETER]},
)
async def create_session(
    body: LoginRequest, request: Request, response: Response, deps: Deps
) -> SessionResponse:
    """Sign in a browser: the access token in the body, the refresh token in a cookie."""
    resp = await deps.auth.Login(
        auth_pb2.LoginRequest(email=body.email, password=body.password),
        timeout=deps.settings.rpc_timeout_seconds,
    )
    return _signed_in(resp, request, response)


@router.post(
    "/register",
    status_code=201,
    response_model=SessionResponse,
    responses={
        201: _SIGNED_IN,
        409: {"model": ErrorBody, "description": "Email already registered"},
    },
    dependencies=[per_ip("register"), Depends(no_store)],
    openapi_extra={"parameters": [CSRF_PARAMETER]},
)
async def register_session(
    body: RegisterRequest, request: Request, response: Response, deps: Deps
) -> SessionResponse:
    """Create an account and sign in a browser, as `create_session` does."""
    resp = await deps.auth.Register(
        auth_pb2.RegisterRequest(email=body.email, password=body.password, name=body.name),
        timeout=deps.settings.rpc_timeout_seconds,
    )
    response.headers["Location"] = "/api/v1/auth/me"
    return _signed_in(resp, request, response)


@router.post(
    "/refresh",
    response_model=SessionResponse,
    responses={200: _SIGNED_IN},
    dependencies=[per_ip("refresh"), Depends(no_store)],
    openapi_extra={"parameters": [CSRF_PARAMETER], "security": _COOKIE_SECURITY},
)
async def refresh_session(request: Request, response: Response, deps: Deps) -> SessionResponse:
    """Rotate the cookie's refresh token: a new access token, and a new cookie.

    The token is single use, as on /refresh: a page must not refresh twice with one cookie
    (the web UI serializes refreshes across its tabs).
    """
    token = request.cookies.get(COOKIE, "")
    secure = _is_tls(request)
    refused = ApiError(
        401, "Invalid refresh token", headers={"Set-Cookie": cleared_cookie(secure=secure)}
    )
    if not token:
        raise refused
    try:
        resp = await deps.auth.Refresh(
            auth_pb2.RefreshRequest(refresh_token=token),
            timeout=deps.settings.rpc_timeout_seconds,
        )
    except grpc.aio.AioRpcError as exc:
        if exc.code() == grpc.StatusCode.UNAUTHENTICATED:
            raise refused from None
        raise
    return _signed_in(resp, request, response)


@router.delete(
    "",
    response_model=MessageBody,
    responses={200: {"headers": {"Set-Cookie": SET_COOKIE_HEADER}}},
    openapi_extra={"parameters": [CSRF_PARAMETER], "security": _COOKIE_SECURITY},
)
async def delete_session(request: Request, response: Response, deps: Deps) -> MessageBody:
    """Sign out: clear the cookie and revoke its session (its access tokens too). Always 200."""
    token = request.cookies.get(COOKIE, "")
    if token:
        await deps.auth.Logout(
            auth_pb2.LogoutRequest(refresh_token=token),
            timeout=deps.settings.rpc_timeout_seconds,
        )
    response.headers["Set-Cookie"] = cleared_cookie(secure=_is_tls(request))
    return MessageBody(message="logged out successfully")

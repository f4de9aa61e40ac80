"""One place that turns every failure into the contract's error body.

ApiError                  raised by routes and dependencies with a status and the contract's text
grpc.aio.AioRpcError      a backend's status, mapped by GRPC_TO_HTTP
RequestValidationError    FastAPI's 422, which the contract wants as 400
HTTPException             Starlette's 404/405 and friends
Exception                 anything else: 500 with a fixed text, never a trace
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import grpc
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import iter_route_contexts
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from voidrunner.common.logs import get_logger
from voidrunner.gateway.field_errors import (
    field_name,
    malformed_body,
    parameter_error,
    validation_items,
)
from voidrunner.gateway.policy import policy_violations

_log = get_logger("voidrunner.gateway.errors")

GRPC_TO_HTTP: Mapping[grpc.StatusCode, int] = {
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.FAILED_PRECONDITION: 409,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DEADLINE_EXCEEDED: 503,
    # An overloaded backend cancels calls it cannot finish (seen under 1,000 concurrent clients):
    # a transient condition to retry, not an internal error.
    grpc.StatusCode.CANCELLED: 503,
}
_STATUS_TEXT = {404: "Not found", 405: "Method not allowed", 413: "Request body too large"}


class ApiError(Exception):
    """An HTTP error with the contract's body."""

    def __init__(
        self,
        status: int,
        error: str,
        *,
        details: str | None = None,
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(error)
        self.status = status
        self.error = error
        self.details = details
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})


def error_response(
    status: int,
    error: str,
    *,
    details: str | None = None,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    """A JSONResponse with the error body."""
    body: dict[str, Any] = {"error": error}
    if details:
        body["details"] = details
    body.update(extra)
    all_headers = dict(headers or {})
    if status == 401:
        # RFC 9110: a 401 names the scheme that would succeed; the API has only this one.
        all_headers.setdefault("WWW-Authenticate", "Bearer")
    return JSONResponse(body, status_code=status, headers=all_headers)


def allowed_methods(request: Request) -> str:
    """Every method some route serves at this request's path, for a 405's Allow header.

    FastAPI makes one route per method, and Starlette's 405 names only the first route whose
    path matched; the header must list them all.
    """
    methods: set[str] = set()
    for route in iter_route_contexts(request.app.router.routes):
        match, _ = route.matches(request.scope)
        if match is not Match.NONE:
            methods |= route.methods or set()
    return ", ".join(sorted(methods))


def items_of(errors: Sequence[Any]) -> set[str]:
    """The top-level body fields that already failed."""
    return {field_name(e).split(".", 1)[0] for e in errors}


async def _policy_items(request: Request, body: Any, failed: set[str]) -> list[dict[str, str]]:
    """The runtime policy's violations too, for bodies whose model asks for them: one answer
    names every invalid field, though the tasks service checks the policy only for bodies that
    passed the schema."""
    dependant = getattr(request.scope.get("route"), "dependant", None)
    models = [p.field_info.annotation for p in getattr(dependant, "body_params", ())]
    backends = getattr(request.app.state, "backends", None)
    policy_cache = getattr(backends, "policy", None)
    if not any(getattr(m, "policy_checked", False) for m in models) or not isinstance(body, dict):
        return []
    found: list[dict[str, str]] = []
    for model in models:
        check = getattr(model, "body_violations", None)
        if check is not None:
            found += check(body, failed)
    if policy_cache is None or (policy := await policy_cache.get()) is None:
        return found
    return found + policy_violations(body, policy, failed)


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers that make every error the contract's JSON body."""

    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return error_response(
            exc.status, exc.error, details=exc.details, headers=exc.headers, **exc.extra
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        parameter = parameter_error(errors)
        if parameter is not None:
            return error_response(400, parameter)
        malformed = malformed_body(errors)
        if malformed is not None:
            return error_response(400, "Invalid request format", details=malformed)
        items = validation_items(errors) + await _policy_items(request, exc.body, items_of(errors))
        return error_response(400, "Validation failed", validation_errors=items)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400:  # FastAPI's "error parsing the body": JSON not in UTF-8
            return error_response(
                400, "Invalid request format", details="body must be JSON encoded as UTF-8"
            )
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = allowed_methods(request)
        text = _STATUS_TEXT.get(exc.status_code) or str(exc.detail)
        return error_response(exc.status_code, text, headers=headers)

    @app.exception_handler(grpc.aio.AioRpcError)
    async def _rpc(_request: Request, exc: grpc.aio.AioRpcError) -> JSONResponse:
        status = GRPC_TO_HTTP.get(exc.code(), 500)
        if status == 500:
            _log.error("backend call failed", code=exc.code().name, details=exc.details())
            return error_response(500, "Internal server error")
        if status == 503:
            _log.warning("backend unavailable", code=exc.code().name, details=exc.details())
            return error_response(
                503, "Service temporarily unavailable", headers={"Retry-After": "1"}
            )
        return error_response(status, exc.details() or "Request failed")

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
        _log.exception("unhandled error", exc_info=exc)
        return error_response(500, "Internal server error")

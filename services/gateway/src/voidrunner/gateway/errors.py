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
from starlette.exceptions import HTTPException as StarletteHTTPException

from voidrunner.common.logs import get_logger

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
# Fields whose values must never be echoed back in validation errors.
_SECRET_FIELDS = frozenset({"password", "refresh_token", "access_token"})
_TAGS = {
    "missing": "required",
    "string_too_short": "min",
    "too_short": "min",
    "string_too_long": "max",
    "too_long": "max",
    "greater_than_equal": "min",
    "greater_than": "min",
    "less_than_equal": "max",
    "less_than": "max",
    "literal_error": "oneof",
    "enum": "oneof",
    "extra_forbidden": "unknown",
}


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
    return JSONResponse(body, status_code=status, headers=dict(headers or {}))


def validation_items(errors: Sequence[Any]) -> list[dict[str, str]]:
    """Pydantic errors as the contract's validation_errors (JSON field names, rule tags)."""
    items = []
    for err in errors:
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path", "header")]
        field = ".".join(loc) or "body"
        value = "" if loc and loc[-1] in _SECRET_FIELDS else _as_text(err.get("input"))
        items.append(
            {
                "field": field,
                "value": value,
                "tag": _TAGS.get(err.get("type", ""), err.get("type", "invalid")),
                "message": _message(field, err),
            }
        )
    return items


def _message(field: str, err: Mapping[str, Any]) -> str:
    msg = str(err.get("msg", "is invalid"))
    if err.get("type") == "missing":
        return f"{field} is required"
    return msg.removeprefix("Value error, ")


def _as_text(value: Any) -> str:
    if value is None or isinstance(value, dict | list):
        return ""
    # Lone surrogates (valid JSON escapes, invalid UTF-8) would make the error body unrenderable.
    text = str(value).encode("utf-8", "replace").decode("utf-8")
    return text if len(text) <= 200 else text[:200] + "…"


def _is_malformed_body(errors: Sequence[Any]) -> bool:
    """JSON that does not parse, or a body that is not a JSON object at all."""
    for err in errors:
        if err.get("type") == "json_invalid":
            return True
        if tuple(err.get("loc", ())) == ("body",) and err.get("type") in {
            "model_attributes_type",
            "dict_type",
            "missing",
        }:
            return True
    return False


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers that make every error the contract's JSON body."""

    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return error_response(
            exc.status, exc.error, details=exc.details, headers=exc.headers, **exc.extra
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        if _is_malformed_body(errors):
            detail = next((str(e.get("msg")) for e in errors), "body must be a JSON object")
            return error_response(400, "Invalid request format", details=detail)
        return error_response(400, "Validation failed", validation_errors=validation_items(errors))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400:  # FastAPI's own "error parsing the body" (e.g. bad UTF-8)
            return error_response(400, "Invalid request format", details=str(exc.detail))
        text = _STATUS_TEXT.get(exc.status_code) or str(exc.detail)
        return error_response(exc.status_code, text, headers=exc.headers)

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

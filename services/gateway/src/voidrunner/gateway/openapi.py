"""The OpenAPI document: FastAPI's, made to say what the gateway really does.

FastAPI derives paths, parameters and bodies from the routes; then, for every operation:
- the 422 FastAPI adds wherever there are parameters goes (the API answers 400, documented);
- `security` names the Bearer scheme when a route depends on the signed-in caller (optional
  for the routes that take a token if there is one), so Swagger UI's Authorize button works;
  the browser session routes name their cookie themselves (routes/session.py);
- response headers: X-Request-ID on all, RateLimit-* where a rate limit counts the request
  (and a 429 only there), Retry-After on 429 and 503, WWW-Authenticate on 401, Location on
  201 (routes declare their own extras, e.g. Idempotent-Replayed and Cache-Control);
- 415 where a body may be sent (see json_bodies.py);
- an optional query parameter's `anyOf [T, null]` becomes T: a query string cannot carry null;
- the example bodies of examples.py.

`python -m voidrunner.gateway.openapi` prints the document (for `make docs`).
"""

from __future__ import annotations

import copy
import json
import sys
from collections.abc import Callable, Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts

from voidrunner.gateway import deps, ratelimit
from voidrunner.gateway.examples import EXAMPLES
from voidrunner.gateway.routes.session import COOKIE as SESSION_COOKIE
from voidrunner.gateway.schemas.common import (
    LOCATION_HEADER,
    RATE_LIMIT_HEADERS,
    REQUEST_ID_HEADER,
    RETRY_AFTER_HEADER,
    WWW_AUTHENTICATE_HEADER,
)

Document = dict[str, Any]
BEARER = "bearerAuth"
SECURITY_SCHEME = {
    "type": "http",
    "scheme": "bearer",
    "bearerFormat": "JWT",
    "description": "The `access_token` of register, login or refresh.",
}
STREAM = "streamToken"
STREAM_SCHEME = {
    "type": "apiKey",
    "in": "query",
    "name": "stream_token",
    "description": "A token from POST /api/v1/executions/{id}/logs/token (that log only, 60 s).",
}
COOKIE = "sessionCookie"
COOKIE_SCHEME = {
    "type": "apiKey",
    "in": "cookie",
    "name": SESSION_COOKIE,
    "description": "The refresh cookie that POST /api/v1/auth/session sets (browsers only).",
}
ERROR_SCHEMA = {"$ref": "#/components/schemas/ErrorBody"}
UNSUPPORTED = {
    "description": "The body is not JSON (Content-Type other than application/json)",
    "content": {"application/json": {"schema": ERROR_SCHEMA}},
}
FASTAPI_VALIDATION = ("HTTPValidationError", "ValidationError")


def install_openapi(app: FastAPI) -> None:
    """Make `app.openapi()` return the refined document (built once, then cached)."""
    fastapi_document = app.openapi

    def openapi() -> Document:
        if app.openapi_schema is None:
            document = fastapi_document()
            refine(document, list(iter_route_contexts(app.routes)))
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def refine(document: Document, routes: list[RouteContext]) -> None:
    """Apply the changes listed in the module docstring to FastAPI's document, in place.

    `routes` are FastAPI's route contexts: a route as included (with its router's prefix and
    dependencies), which is what the document describes.
    """
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    for name in FASTAPI_VALIDATION:
        schemas.pop(name, None)
    components.setdefault("securitySchemes", {})[BEARER] = SECURITY_SCHEME
    components["securitySchemes"][STREAM] = STREAM_SCHEME
    components["securitySchemes"][COOKIE] = COOKIE_SCHEME
    for route in routes:
        if not isinstance(route.original_route, APIRoute) or not route.include_in_schema:
            continue
        calls = set(_dependency_calls(route.dependant))
        success = str(route.status_code or 200)
        for method in route.methods or ():
            operation = document["paths"][route.path_format][method.lower()]
            _refine_operation(operation, method, success, calls)


def _refine_operation(
    operation: Document, method: str, success: str, calls: set[Callable[..., Any]]
) -> None:
    responses: Document = operation["responses"]
    responses.pop("422", None)
    if method != "GET":
        responses.setdefault("415", copy.deepcopy(UNSUPPORTED))
    if deps.current_principal in calls:
        operation["security"] = [{BEARER: []}]
    elif deps.stream_principal in calls:
        operation["security"] = [{BEARER: []}, {STREAM: []}]
    elif deps.optional_principal in calls:
        operation["security"] = [{}, {BEARER: []}]
    limited = any(getattr(c, "__module__", None) == ratelimit.__name__ for c in calls)
    if not limited:
        responses.pop("429", None)
    for status, response in responses.items():
        headers = response.setdefault("headers", {})
        headers["X-Request-ID"] = {**REQUEST_ID_HEADER, "required": True}
        if limited:
            headers.update(RATE_LIMIT_HEADERS)
        if status == "429":
            headers["Retry-After"] = {**RETRY_AFTER_HEADER, "required": True}
        elif status == "503":
            headers["Retry-After"] = RETRY_AFTER_HEADER
        elif status == "401":
            headers["WWW-Authenticate"] = {**WWW_AUTHENTICATE_HEADER, "required": True}
        elif status == "201":
            headers["Location"] = {**LOCATION_HEADER, "required": True}
    for parameter in operation.get("parameters", []):
        parameter["schema"] = _without_null(parameter["schema"])
    _add_examples(operation, success)


def _dependency_calls(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    for sub in dependant.dependencies:
        if sub.call is not None:
            yield sub.call
        yield from _dependency_calls(sub)


def _without_null(schema: Document) -> Document:
    """`{"anyOf": [T, {"type": "null"}], ...}` as T with the outer keys (description, default)."""
    options = schema.get("anyOf")
    if not isinstance(options, list):
        return schema
    kept = [o for o in options if o != {"type": "null"}]
    if len(kept) != 1 or len(kept) == len(options):
        return schema
    outer = {k: v for k, v in schema.items() if k != "anyOf"}
    return {**kept[0], **outer}


def _add_examples(operation: Document, success: str) -> None:
    example = EXAMPLES.get(operation.get("operationId", ""), {})
    if "request" in example and "requestBody" in operation:
        for media in operation["requestBody"]["content"].values():
            media["example"] = copy.deepcopy(example["request"])
    if "response" in example:
        for media in operation["responses"][success].get("content", {}).values():
            media["example"] = copy.deepcopy(example["response"])


if __name__ == "__main__":
    from voidrunner.gateway.app import create_app
    from voidrunner.gateway.settings import GatewaySettings

    json.dump(create_app(GatewaySettings()).openapi(), sys.stdout, indent=2)
    sys.stdout.write("\n")

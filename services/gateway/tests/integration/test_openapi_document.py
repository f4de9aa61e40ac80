"""The OpenAPI document (issue 12, item 11): Bearer security, no phantom 422, typed parameters,
documented headers, and a valid example per operation."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import jsonschema_rs
import pytest

Document = dict[str, Any]
METHODS = ("get", "put", "post", "delete", "patch")
PUBLIC = {
    "health",
    "ready",
    "ping",
    "register",
    "login",
    "refresh",
    "create_session",
    "register_session",
}
# Browser sessions: their refresh token is the cookie (routes/session.py).
COOKIE_AUTH = {"refresh_session", "delete_session"}
UNLIMITED = {"health", "ready", "ping", "logout", "me", "delete_session"}


@pytest.fixture
async def document(client: httpx.AsyncClient) -> Document:
    resp = await client.get("/openapi.json")
    assert resp.status_code == 200
    body: Document = resp.json()
    return body


def operations(document: Document) -> Iterator[tuple[str, str, Document]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield path, method, operation


def by_id(document: Document, operation_id: str) -> Document:
    return next(op for _, _, op in operations(document) if op["operationId"] == operation_id)


def parameter(operation: Document, name: str) -> Document:
    found: Document = next(p for p in operation["parameters"] if p["name"] == name)
    return found


def validator(document: Document, schema: Document) -> jsonschema_rs.Validator:
    # The root carries the components, so the operation's "#/components/..." refs resolve.
    return jsonschema_rs.Draft202012Validator(
        {**schema, "components": document["components"]}, validate_formats=True
    )


async def test_bearer_security_on_exactly_the_protected_operations(document: Document) -> None:
    scheme = document["components"]["securitySchemes"]["bearerAuth"]
    assert scheme == {**scheme, "type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    for _, _, operation in operations(document):
        security = operation.get("security")
        if operation["operationId"] in PUBLIC:
            assert security is None, operation["operationId"]
        elif operation["operationId"] == "logout":  # a token is optional there
            assert security == [{}, {"bearerAuth": []}]
        elif operation["operationId"] in COOKIE_AUTH:
            assert security == [{"sessionCookie": []}]
        elif operation["operationId"] == "execution_logs":  # or a stream token, for EventSource
            assert security == [{"bearerAuth": []}, {"streamToken": []}]
        else:
            assert security == [{"bearerAuth": []}], operation["operationId"]


async def test_no_phantom_422_and_400_wherever_input_is_checked(document: Document) -> None:
    assert "HTTPValidationError" not in document["components"]["schemas"]
    for path, method, operation in operations(document):
        assert "422" not in operation["responses"], (method, path)
        if operation.get("parameters") or operation.get("requestBody"):
            assert "400" in operation["responses"], (method, path)
        if method != "get":
            assert "415" in operation["responses"], (method, path)


async def test_parameters_are_typed(document: Document) -> None:
    tasks = by_id(document, "list_tasks")
    assert parameter(tasks, "sort_field")["schema"]["enum"] == [
        "created_at",
        "updated_at",
        "priority",
        "name",
    ]
    assert parameter(tasks, "sort_order")["schema"]["enum"] == ["asc", "desc"]
    assert "cancelled" in parameter(tasks, "status")["schema"]["enum"]
    script_type = parameter(tasks, "script_type")["schema"]
    assert script_type["type"] == "string"
    assert "enum" not in script_type  # operators add runtimes
    assert "python" in script_type["examples"]
    for operation_id in ("list_tasks", "list_executions"):
        operation = by_id(document, operation_id)
        limit = parameter(operation, "limit")["schema"]
        assert (limit["type"], limit["minimum"], limit["maximum"], limit["default"]) == (
            "integer",
            1,
            100,
            20,
        )
        offset = parameter(operation, "offset")["schema"]
        assert (offset["type"], offset["minimum"]) == ("integer", 0)
    wait = parameter(by_id(document, "start_execution"), "wait")["schema"]
    assert (wait["type"], wait["minimum"], wait["maximum"]) == ("integer", 0, 60)
    for path, _, operation in operations(document):
        for param in operation.get("parameters", []):
            assert "anyOf" not in param["schema"], (path, param["name"])  # no "null" query values
            if param["in"] == "path":
                assert param["schema"] == {**param["schema"], "type": "string", "format": "uuid"}


async def test_statuses_and_termination_reasons_are_enums(document: Document) -> None:
    schemas = document["components"]["schemas"]

    def resolved(schema: Document) -> Document:
        ref = schema.get("$ref", "")
        found: Document = schemas[ref.rpartition("/")[2]] if ref else schema
        return found

    assert "pending" in resolved(schemas["Task"]["properties"]["status"])["enum"]
    assert "completed" in resolved(schemas["Execution"]["properties"]["status"])["enum"]
    reason = resolved(schemas["Execution"]["properties"]["termination_reason"]["anyOf"][0])
    assert set(reason["enum"]) == {
        "exit",
        "timeout",
        "memory_limit",
        "output_limit",
        "pids_limit",
        "security_violation",
        "cancelled",
        "compile_error",
        "sandbox_error",
    }


async def test_response_headers_are_documented(document: Document) -> None:
    for path, method, operation in operations(document):
        label = (method, path)
        for status, response in operation["responses"].items():
            headers = response["headers"]
            assert headers["X-Request-ID"]["required"] is True, label
            if status == "201":
                assert headers["Location"]["required"] is True, label
            if status == "429":
                assert headers["Retry-After"]["required"] is True, label
            if status == "401":
                assert headers["WWW-Authenticate"]["required"] is True, label
        limited = operation["operationId"] not in UNLIMITED
        assert ("429" in operation["responses"]) is limited, label
        if limited:
            for response in operation["responses"].values():
                assert "RateLimit-Remaining" in response["headers"], label
    replay = by_id(document, "start_execution")["responses"]["200"]["headers"]
    assert "Idempotent-Replayed" in replay
    tokens = ("register", "login", "refresh", "create_session", "register_session")
    for operation_id in (*tokens, "refresh_session"):
        operation = by_id(document, operation_id)
        success = next(r for s, r in operation["responses"].items() if s.startswith("2"))
        assert success["headers"]["Cache-Control"]["schema"]["enum"] == ["no-store"]


async def test_every_operation_has_an_example_valid_against_its_schema(
    document: Document,
) -> None:
    for path, method, operation in operations(document):
        examples = 0
        media_types = [*operation.get("requestBody", {}).get("content", {}).items()]
        for status, response in operation["responses"].items():
            if status.startswith("2"):
                media_types += response.get("content", {}).items()
        for media_type, media in media_types:
            if "example" not in media:
                continue
            examples += 1
            errors = [
                e.message
                for e in validator(document, media["schema"]).iter_errors(media["example"])
            ]
            assert not errors, (method, path, media_type, errors)
        # A 204 has no body to show.
        assert examples or "204" in operation["responses"], (method, path)


async def test_the_example_check_bites(document: Document) -> None:
    task = by_id(document, "get_task")["responses"]["200"]["content"]["application/json"]
    broken = {k: v for k, v in task["example"].items() if k != "id"} | {"status": "done"}
    assert len(list(validator(document, task["schema"]).iter_errors(broken))) == 2

"""The SDK's models against a live gateway's /openapi.json, so the two cannot drift apart.

Every field of a response model must exist in the schema of the same name with a compatible
type (an enum's values must be the same set), every field of a request model must be one the
gateway takes, and no required response field of the gateway may be missing here. The API-key
models are checked only when the gateway has them (their server side is built elsewhere).
"""

from __future__ import annotations

import types
import typing
from typing import Any

import httpx
import pytest
from pydantic import BaseModel

from voidrunner.client import _models as m

# SDK model → the gateway's schema of its kind.
RESPONSES: dict[type[BaseModel], str] = {
    m.User: "User",
    m.AuthResponse: "AuthResponse",
    m.MeResponse: "MeResponse",
    m.MessageBody: "MessageBody",
    m.Pagination: "Pagination",
    m.FileOut: "FileOut",
    m.TestCaseOut: "TestCaseOut",
    m.Task: "Task",
    m.TaskList: "TaskList",
    m.ExecutionLimits: "ExecutionLimits",
    m.RunTestCase: "RunTestCase",
    m.RunView: "RunView",
    m.CaseView: "CaseView",
    m.Execution: "Execution",
    m.ExecutionList: "ExecutionList",
    m.RunBatchResult: "RunBatchResult",
    m.RuntimeLimits: "RuntimeLimits",
    m.Runtime: "Runtime",
    m.RuntimeList: "RuntimeList",
    m.ApiKey: "ApiKey",
    m.CreatedApiKey: "CreatedApiKey",
    m.ApiKeyList: "ApiKeyList",
    m.Share: "Share",
    m.ShareList: "ShareList",
    m.Webhook: "Webhook",
    m.CreatedWebhook: "CreatedWebhook",
    m.WebhookList: "WebhookList",
    m.Attempt: "Attempt",
    m.Delivery: "Delivery",
    m.DeliveryList: "DeliveryList",
    m.SigningSecret: "SigningSecret",
    m.SecretInfo: "SecretInfo",
}
REQUESTS: dict[type[BaseModel], str] = {
    m.RunSpec: "RunFields",
    m.TaskSpec: "TaskCreate",
    m.TaskUpdate: "TaskUpdate",
    m.File: "FileIn",
    m.TestCase: "TestCaseIn",
    m.ShareCreate: "ShareCreate",
    m.WebhookCreate: "WebhookCreate",
    m.WebhookUpdate: "WebhookUpdate",
}
OPTIONAL_HERE = {"ApiKey", "CreatedApiKey", "ApiKeyList"}
CONTAINERS = {list: "array", dict: "object"}
# UUIDs and datetimes travel as strings (the fallback below).
PY_TO_JSON: dict[Any, set[str]] = {
    str: {"string"},
    int: {"integer"},
    float: {"number", "integer"},
    bool: {"boolean"},
    type(None): {"null"},
}


def _deref(schema: dict[str, Any], doc: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _json_types(schema: dict[str, Any], doc: dict[str, Any]) -> set[str]:
    schema = _deref(schema, doc)
    if "anyOf" in schema or "oneOf" in schema:
        return set().union(
            *(_json_types(s, doc) for s in schema.get("anyOf") or schema.get("oneOf") or [])
        )
    kind = schema.get("type")
    if isinstance(kind, list):
        return set(kind)
    if kind is None and "enum" in schema:
        return {"string"}
    return {kind} if kind else {"any"}


def _enum(schema: dict[str, Any], doc: dict[str, Any]) -> set[str] | None:
    schema = _deref(schema, doc)
    for part in schema.get("anyOf", [schema]):
        resolved = _deref(part, doc)
        if "enum" in resolved:
            return set(resolved["enum"])
    return None


def _py_types(annotation: Any) -> tuple[set[str], set[str] | None]:
    """The JSON types an annotation accepts, and its Literal values (if it is one)."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        kinds: set[str] = set()
        values: set[str] | None = None
        for arg in typing.get_args(annotation):
            k, v = _py_types(arg)
            kinds |= k
            values = v if v is not None else values
        return kinds, values
    if origin is typing.Literal:
        return {"string"}, {str(a) for a in typing.get_args(annotation)}
    if origin in CONTAINERS:
        return {CONTAINERS[origin]}, None
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return {"object"}, None
    return PY_TO_JSON.get(annotation) or {"any" if annotation is Any else "string"}, None


@pytest.fixture
async def document(gateway_url: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=gateway_url) as http:
        resp = await http.get("/openapi.json")
    assert resp.status_code == 200
    doc: dict[str, Any] = resp.json()
    return doc


def _check(model: type[BaseModel], schema_name: str, doc: dict[str, Any]) -> list[str]:
    schema = doc["components"]["schemas"][schema_name]
    props: dict[str, Any] = schema.get("properties", {})
    problems = []
    for name, info in model.model_fields.items():
        if name not in props:
            problems.append(f"{model.__name__}.{name}: not in the gateway's {schema_name}")
            continue
        ours, values = _py_types(info.annotation)
        theirs = _json_types(props[name], doc)
        if "any" not in theirs and "any" not in ours and not (theirs - {"null"}) <= ours:
            problems.append(f"{model.__name__}.{name}: {sorted(ours)} vs {sorted(theirs)}")
        their_values = _enum(props[name], doc)
        if values is not None and their_values is not None and values != their_values:
            problems.append(f"{model.__name__}.{name}: values {values ^ their_values} differ")
    return problems


async def test_response_models_match_the_gateway(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    problems = []
    for model, name in RESPONSES.items():
        if name not in schemas:
            assert name in OPTIONAL_HERE, f"the gateway has no {name}"
            continue
        problems += _check(model, name, document)
        # What the gateway always sends, the SDK must read.
        missing = set(schemas[name].get("required", [])) - set(model.model_fields)
        problems += [f"{model.__name__} lacks required {f}" for f in sorted(missing)]
    assert problems == []


async def test_request_models_send_only_fields_the_gateway_takes(
    document: dict[str, Any],
) -> None:
    problems = []
    for model, name in REQUESTS.items():
        problems += _check(model, name, document)
    assert problems == []


def test_the_checker_sees_a_drift() -> None:
    # A field the gateway does not have, and an enum with a value it does not know.
    doc = {
        "components": {
            "schemas": {"S": {"properties": {"status": {"type": "string", "enum": ["pending"]}}}}
        }
    }

    class Drifted(BaseModel):
        status: typing.Literal["pending", "paused"]
        extra: int

    problems = _check(Drifted, "S", doc)
    assert len(problems) == 2

"""Every error a client can get is in our words (issue 12, item 10): one style for validation
errors, no pydantic wording, and texts that say what is wrong."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

Headers = dict[str, str]
TASK: dict[str, Any] = {"name": "ok", "script_content": "print(1)", "script_type": "python"}
# Pydantic's own phrasing: none of it may reach a client.
PYDANTIC_WORDS = ("Input should", "Value error", "String should", "Field required", "valid dict")


# (body change, field, message): pydantic's checks, each in our words.
TEXTS: list[tuple[dict[str, Any], str, str]] = [
    ({"priority": "5"}, "priority", "priority must be an integer"),
    ({"priority": 11}, "priority", "priority must be at most 10"),
    ({"timeout_seconds": 0}, "timeout_seconds", "timeout_seconds must be at least 1"),
    ({"timeout_seconds": 1.5}, "timeout_seconds", "timeout_seconds must be an integer"),
    ({"name": ""}, "name", "name must not be empty"),
    ({"name": "x" * 256}, "name", "name must be at most 255 characters"),
    ({"name": "a\u0000"}, "name", "name must not contain NUL or invalid characters"),
    ({"script_content": " "}, "script_content", "script_content must not be blank"),
    ({"metadata": []}, "metadata", "metadata must be an object"),
    ({"env": {"A": 1}}, "env.A", "env.A must be a string"),
    ({"cpu_limit": "1"}, "cpu_limit", "cpu_limit must be a number"),
    ({"stdin": 5}, "stdin", "stdin must be a string"),
]


async def test_validation_texts_are_ours(client: httpx.AsyncClient, alice: Headers) -> None:
    for change, field, message in TEXTS:
        resp = await client.post("/api/v1/tasks", json={**TASK, **change}, headers=alice)
        assert resp.status_code == 400, change
        [item] = resp.json()["validation_errors"]
        assert (item["field"], item["message"]) == (field, message), change
    missing = await client.post("/api/v1/tasks", json={}, headers=alice)
    texts = {e["field"]: e["message"] for e in missing.json()["validation_errors"]}
    assert texts == {
        "name": "name is required",
        "script_content": "script_content is required (or files)",
        "script_type": "script_type is required",
    }


@pytest.mark.parametrize(
    ("content", "details"),
    [
        (b'{"email": ', "body must be valid JSON: Expecting value at character 10"),
        (b"[1]", "body must be a JSON object"),
        (b"", "body must be a JSON object"),
        (b'"text"', "body must be a JSON object"),
        (b"\xff\xfe\xfa", "body must be JSON encoded as UTF-8"),
    ],
)
async def test_malformed_bodies_say_what_is_wrong(
    client: httpx.AsyncClient, content: bytes, details: str
) -> None:
    resp = await client.post(
        "/api/v1/auth/register", content=content, headers={"Content-Type": "application/json"}
    )
    assert resp.status_code == 400
    assert resp.json() == {"error": "Invalid request format", "details": details}


async def test_no_pydantic_wording_reaches_a_client(
    client: httpx.AsyncClient, alice: Headers
) -> None:
    bodies: list[Any] = [
        {**TASK, "priority": [], "env": [], "metadata": 1, "name": {}, "cpu_limit": True},
        {"name": None, "priority": None, "env": {"A": None}},
        {**TASK, "max_output_bytes": "1", "memory_limit_mb": 1e300},
    ]
    for body in bodies:
        for method, url in (("POST", "/api/v1/tasks"), ("PUT", f"/api/v1/tasks/{uuid.uuid4()}")):
            resp = await client.request(method, url, json=body, headers=alice)
            assert resp.status_code in (400, 404), resp.text
            assert not any(w in resp.text for w in PYDANTIC_WORDS), resp.text
    register = await client.post("/api/v1/auth/register", json={"email": [], "name": 1})
    assert not any(w in register.text for w in PYDANTIC_WORDS), register.text

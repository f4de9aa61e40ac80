"""Request bodies as `curl -d` sends them are JSON; other media types are 415 (issue 12, item 9)."""

from __future__ import annotations

import json

import asyncpg
import httpx
import pytest

Headers = dict[str, str]
PASSWORD = "Sup3r-secret!"
REGISTER = "/api/v1/auth/register"
FORM = "application/x-www-form-urlencoded"


async def _users(database_url: str) -> int:
    conn = await asyncpg.connect(database_url)
    try:
        count: int = await conn.fetchval("SELECT count(*) FROM users")
        return count
    finally:
        await conn.close()


def _register_body(name: str) -> bytes:
    return json.dumps({"email": f"{name}@example.com", "password": PASSWORD, "name": name}).encode()


@pytest.mark.parametrize(
    "content_type",
    [FORM, f"{FORM}; charset=UTF-8", None, "application/json", "Application/JSON; charset=utf-8"],
)
async def test_json_is_read_whatever_curl_labels_it(
    client: httpx.AsyncClient, alice: Headers, content_type: str | None
) -> None:
    headers = {} if content_type is None else {"Content-Type": content_type}
    # httpx adds no Content-Type of its own for raw content, so None really sends none.
    resp = await client.post(REGISTER, content=_register_body("curl"), headers=headers)
    assert resp.status_code == 201, resp.text
    assert resp.request.headers.get("content-type") == content_type
    task = await client.post(
        "/api/v1/tasks",
        content=b'{"name": "t", "script_content": "print(1)", "script_type": "python"}',
        headers={**alice, **headers},
    )
    assert task.status_code == 201, task.text
    assert task.json()["name"] == "t"


async def test_a_form_that_is_not_json_is_a_malformed_body(
    client: httpx.AsyncClient, database_url: str
) -> None:
    resp = await client.post(
        REGISTER,
        content=f"email=a@example.com&password={PASSWORD}&name=a".encode(),
        headers={"Content-Type": FORM},
    )
    assert resp.status_code == 400
    assert resp.json()["error"] == "Invalid request format"
    assert "valid JSON" in resp.json()["details"]
    assert await _users(database_url) == 0


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "multipart/form-data; boundary=x", "application/xml", "application/jsonx"],
)
async def test_other_media_types_are_415(
    client: httpx.AsyncClient, database_url: str, content_type: str
) -> None:
    resp = await client.post(
        REGISTER, content=_register_body("typed"), headers={"Content-Type": content_type}
    )
    assert resp.status_code == 415
    assert resp.json() == {
        "error": "Unsupported media type",
        "details": "Content-Type must be application/json",
    }
    assert resp.headers["content-type"] == "application/json; charset=utf-8"
    assert "x-request-id" in resp.headers
    assert await _users(database_url) == 0


async def test_a_request_without_a_body_is_not_judged_by_its_type(
    client: httpx.AsyncClient, alice: Headers
) -> None:
    task = await client.post(
        "/api/v1/tasks",
        json={"name": "t", "script_content": "print(1)", "script_type": "python"},
        headers=alice,
    )
    deleted = await client.delete(
        f"/api/v1/tasks/{task.json()['id']}", headers={**alice, "Content-Type": "text/plain"}
    )
    assert deleted.status_code == 200, deleted.text

"""Bad task input through the gateway: each rule broken alone is a 400 naming the JSON field,
nothing is written, and no input produces a 500."""

from __future__ import annotations

import json
from typing import Any

import asyncpg
import httpx

Headers = dict[str, str]
TASKS = "/api/v1/tasks"
GOOD: dict[str, Any] = {"name": "ok", "script_content": "print(1)", "script_type": "python"}

# (field changes, the field validation_errors must name)
BROKEN: list[tuple[dict[str, Any], str]] = [
    ({"name": None}, "name"),
    ({"name": ""}, "name"),
    ({"name": "   "}, "name"),
    ({"name": "x" * 256}, "name"),
    ({"name": "a<b"}, "name"),
    ({"name": "line\nbreak"}, "name"),
    ({"name": 5}, "name"),
    ({"name": "nul\u0000"}, "name"),
    ({"description": "x" * 1001}, "description"),
    ({"script_content": ""}, "script_content"),
    ({"script_content": "  \n\t"}, "script_content"),
    ({"script_content": "x" * 65_536}, "script_content"),
    ({"script_type": "cobol"}, "script_type"),
    ({"script_type": None}, "script_type"),
    ({"priority": 11}, "priority"),
    ({"priority": -1}, "priority"),
    ({"priority": "5"}, "priority"),
    ({"priority": True}, "priority"),
    ({"priority": 2**70}, "priority"),
    ({"timeout_seconds": 0}, "timeout_seconds"),
    ({"timeout_seconds": 3601}, "timeout_seconds"),
    ({"timeout_seconds": 1.5}, "timeout_seconds"),
    ({"metadata": []}, "metadata"),
    ({"metadata": "{}"}, "metadata"),
    ({"metadata": {"k": "x" * 66_000}}, "metadata"),
    ({"metadata": {"k": "\u0000"}}, "metadata"),
    ({"stdin": 5}, "stdin"),
    ({"env": {"1X": "v"}}, "env.1X"),
    ({"env": {"A": 1}}, "env.A"),
    ({"env": {f"K{i}": "" for i in range(65)}}, "env"),
    ({"env": {"A": "a\u0000"}}, "env.A"),
    ({"memory_limit_mb": 15}, "memory_limit_mb"),
    ({"memory_limit_mb": 2**40}, "memory_limit_mb"),
    ({"memory_limit_mb": 100_000}, "memory_limit_mb"),  # above the operator cap
    ({"cpu_limit": 0.05}, "cpu_limit"),
    ({"cpu_limit": 99.0}, "cpu_limit"),
    ({"cpu_limit": "1"}, "cpu_limit"),
    ({"max_output_bytes": 1023}, "max_output_bytes"),
    ({"max_output_bytes": 1 << 45}, "max_output_bytes"),
]


async def _count(database_url: str) -> int:
    conn = await asyncpg.connect(database_url)
    try:
        count: int = await conn.fetchval("SELECT count(*) FROM tasks")
        return count
    finally:
        await conn.close()


async def test_each_broken_rule_names_its_field(
    client: httpx.AsyncClient, alice: Headers, database_url: str
) -> None:
    task = (await client.post(TASKS, json=GOOD, headers=alice)).json()
    for change, field in BROKEN:
        for method, url, body in (
            ("POST", TASKS, {**GOOD, **change}),
            ("PUT", f"{TASKS}/{task['id']}", change),
        ):
            resp = await client.request(method, url, json=body, headers=alice)
            assert resp.status_code == 400, (method, change, resp.text)
            error = resp.json()
            assert error["error"] == "Validation failed", (method, change)
            fields = [e["field"] for e in error["validation_errors"]]
            assert fields == [field], (method, change, fields)
    assert await _count(database_url) == 1
    unchanged = (await client.get(f"{TASKS}/{task['id']}", headers=alice)).json()
    assert unchanged == task


async def test_one_answer_names_every_invalid_field(
    client: httpx.AsyncClient, alice: Headers, database_url: str
) -> None:
    # Schema rules (an empty script, bad env names) and policy rules (an unknown runtime, a cap
    # passed) broken at once: one 400 lists them all, each bad env name on its own.
    body = {
        "name": "ok",
        "script_content": "",
        "script_type": "cobol",
        "env": {"GOOD": "x", "1BAD": "x", "ALSO-BAD": "x"},
        "memory_limit_mb": 1_000_000,
    }
    resp = await client.post(TASKS, json=body, headers=alice)
    assert resp.status_code == 400, resp.text
    errors = resp.json()["validation_errors"]
    assert sorted(e["field"] for e in errors) == [
        "env.1BAD",
        "env.ALSO-BAD",
        "memory_limit_mb",
        "script_content",
        "script_type",
    ]
    by_field = {e["field"]: e for e in errors}
    assert by_field["script_type"]["tag"] == "oneof"
    assert "python" in by_field["script_type"]["message"]
    assert by_field["memory_limit_mb"]["message"].endswith("(operator cap)")
    # Three bad fields in an update as well.
    task = (await client.post(TASKS, json=GOOD, headers=alice)).json()
    update = {"priority": 99, "script_type": "cobol", "cpu_limit": 64.0}
    resp = await client.put(f"{TASKS}/{task['id']}", json=update, headers=alice)
    assert sorted(e["field"] for e in resp.json()["validation_errors"]) == [
        "cpu_limit",
        "priority",
        "script_type",
    ]
    assert await _count(database_url) == 1


async def test_hostile_bodies_never_500(
    client: httpx.AsyncClient, alice: Headers, database_url: str
) -> None:
    headers = {**alice, "Content-Type": "application/json"}
    deep = "[" * 50_000 + "]" * 50_000
    bodies: list[bytes] = [
        b"{",
        b"[]",
        b"null",
        b'"text"',
        json.dumps({**GOOD, "metadata": {"d": json.loads("[" * 500 + "]" * 500)}}).encode(),
        (
            '{"name":"ok","script_content":"x","script_type":"python","metadata":' + deep + "}"
        ).encode(),
        b'{"name":"\\ud800","script_content":"x","script_type":"python"}',
        b'{"name":"ok","script_content":"\\udfff","script_type":"python"}',
        b'{"name":"ok","script_content":"x","script_type":"python","metadata":{"\\ud800":1}}',
        b'{"name":"ok","script_content":"x","script_type":"python","stdin":"\\ud800"}',
        b'{"name":"ok","script_content":"x","script_type":"python","cpu_limit":NaN}',
        b'{"name":"ok","script_content":"x","script_type":"python","cpu_limit":Infinity}',
        b'{"name":"ok","script_content":"x","script_type":"python","metadata":{"n":NaN}}',
        b'{"name":"ok","script_content":"x","script_type":"python","priority":1e400}',
        b"\xff\xfe\x00garbage",
    ]
    for body in bodies:
        resp = await client.post(TASKS, content=body, headers=headers)
        assert resp.status_code in (400, 413), (body[:80], resp.status_code, resp.text[:200])
        assert "error" in resp.json()
    # Task bodies may carry files: their own body limit (10 MiB), and stdin its own rule.
    too_big = {**GOOD, "files": [{"path": "a.py", "content": "x" * 11_000_000}]}
    resp = await client.post(TASKS, json=too_big, headers=alice)
    assert resp.status_code == 413
    assert resp.json() == {"error": "Request body too large. Maximum size: 10485760 bytes"}
    long_stdin = await client.post(TASKS, json={**GOOD, "stdin": "x" * 1_100_000}, headers=alice)
    assert long_stdin.status_code == 400
    assert [e["field"] for e in long_stdin.json()["validation_errors"]] == ["stdin"]
    # Other routes keep the contract's 1 MiB.
    big_login = await client.post(
        "/api/v1/auth/login", json={"email": "a@b.c", "password": "x" * 1_100_000}
    )
    assert big_login.status_code == 413
    assert big_login.json() == {"error": "Request body too large. Maximum size: 1048576 bytes"}
    assert await _count(database_url) == 0
    for query in ("q=%ED%A0%80%00", "metadata=%7B%22a%22%3A%22%5Cud800%22%7D", "status=%00"):
        resp = await client.get(f"{TASKS}?{query}", headers=alice)
        assert resp.status_code == 400, (query, resp.text)

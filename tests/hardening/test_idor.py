"""IDOR sweep: user B aims every operation of the live OpenAPI document at user A's resources.

Every operation with a task or execution id in its path is called by B with A's ids and with ids
that exist nowhere; both must get the same answer (404 with the contract's text; 403 on the
admin-only PUT, whoever asks), never A's data. Operations are read from /openapi.json, so a new
route is swept without editing this file. Lists, searches and idempotency keys must not leak
either, and nothing B did may change A's resources.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest

from tests.hardening.users import API, User, create_task

pytestmark = pytest.mark.hardening(suite="api/idor")

NOT_FOUND = {
    "task_id": {"error": "Task not found"},
    "execution_id": {"error": "Execution not found"},
    "api_key_id": {"error": "API key not found"},
}
# Users may not PUT an execution at all: the same 403 for theirs, others' and missing ones.
ADMIN_ONLY = {("PUT", "/api/v1/executions/{execution_id}"): (403, {"error": "Access denied"})}
BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("PUT", "/api/v1/tasks/{task_id}"): {"name": "mine now", "script_content": "print('pwned')"},
    ("PUT", "/api/v1/executions/{execution_id}"): {"status": "completed", "return_code": 0},
}


def _id_operations(schema: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(method, path, id parameter) of every operation addressed by a task, execution or key id."""
    found = []
    for path, item in schema["paths"].items():
        for method in item:
            for param in NOT_FOUND:
                if f"{{{param}}}" in path:
                    found.append((method.upper(), path, param))
    return found


async def _call(
    client: httpx.AsyncClient, method: str, path: str, ids: dict[str, str], user: User
) -> httpx.Response:
    url = path.format(**ids)
    body = BODIES.get((method, path))
    # A short read timeout: a log stream that opened for B would otherwise hang here.
    return await client.request(method, url, json=body, headers=user.auth, timeout=5)


async def test_every_operation_hides_other_users_resources(
    client: httpx.AsyncClient, alice: User, bob: User, hardening_counters: Any
) -> None:
    secret = await create_task(
        client, alice, name="alice secret", metadata={"owner": "alice"}, env={"TOKEN": "s3cret"}
    )
    started = await client.post(
        f"{API}/tasks/{secret['id']}/executions",
        headers={**alice.auth, "Idempotency-Key": "shared-key"},
    )
    assert started.status_code == 201
    execution = started.json()
    key = await client.post(
        f"{API}/auth/api-keys", json={"name": "alice's", "scopes": ["read"]}, headers=alice.auth
    )
    assert key.status_code == 201, key.text
    theirs = {
        "task_id": secret["id"],
        "execution_id": execution["id"],
        "api_key_id": key.json()["id"],
    }
    nowhere = {
        "task_id": str(uuid.uuid4()),
        "execution_id": str(uuid.uuid4()),
        "api_key_id": str(uuid.uuid4()),
    }

    schema = (await client.get("/openapi.json")).json()
    operations = _id_operations(schema)
    # The sweep found the routes the contract lists (a renamed parameter would hide one).
    assert len(operations) >= 9, operations
    leaks = []
    for method, path, param in operations:
        status, body = ADMIN_ONLY.get((method, path), (404, NOT_FOUND[param]))
        for ids in (theirs, nowhere):
            resp = await _call(client, method, path, ids, bob)
            got = (resp.status_code, resp.headers.get("content-type", ""), resp.text)
            if got[0] != status or resp.json() != body or secret["id"] in resp.text:
                leaks.append(f"{method} {path} ({'theirs' if ids is theirs else 'missing'}): {got}")
    hardening_counters.add_cases(2 * len(operations))
    hardening_counters.add_contained(2 * len(operations) - len(leaks))
    assert not leaks, "\n".join(leaks)

    # Lists and searches: nothing of A's, whatever B filters by.
    for query in (
        {},
        {"q": "alice secret"},
        {"metadata": json.dumps({"owner": "alice"})},
        {"status": "running"},
        {"sort_field": "name", "sort_order": "asc", "limit": "100"},
    ):
        listed = await client.get(f"{API}/tasks", params=query, headers=bob.auth)
        assert listed.status_code == 200, (query, listed.text)
        assert listed.json()["tasks"] == [], query
    # The same Idempotency-Key on B's own task starts B's execution, never replays A's.
    own = await create_task(client, bob)
    replay = await client.post(
        f"{API}/tasks/{own['id']}/executions",
        headers={**bob.auth, "Idempotency-Key": "shared-key"},
    )
    assert replay.status_code == 201, replay.text
    assert replay.json()["id"] != execution["id"]
    assert replay.json()["task_id"] == own["id"]
    runtimes = await client.get(f"{API}/runtimes", headers=bob.auth)
    assert runtimes.status_code == 200
    assert secret["id"] not in runtimes.text

    # Nothing B tried changed A's task or execution.
    mine = (await client.get(f"{API}/tasks/{secret['id']}", headers=alice.auth)).json()
    assert (mine["name"], mine["script_content"], mine["status"]) == (
        "alice secret",
        "print(1)",
        "running",
    )
    again = (await client.get(f"{API}/executions/{execution['id']}", headers=alice.auth)).json()
    assert again["status"] == "pending"
    # B neither saw nor revoked A's key.
    assert (await client.get(f"{API}/auth/api-keys", headers=bob.auth)).json()["api_keys"] == []
    keys = (await client.get(f"{API}/auth/api-keys", headers=alice.auth)).json()["api_keys"]
    assert [k["id"] for k in keys] == [key.json()["id"]]

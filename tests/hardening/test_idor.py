"""IDOR sweep: user B aims every operation of the live OpenAPI document at user A's resources.

Every operation with a task, execution, API key or webhook id in its path is called by B with A's
ids (a delivery of A's included) and with ids
that exist nowhere; both must get the same answer (404 with the contract's text; 403 on the
admin-only PUT, whoever asks), never A's data. Operations are read from /openapi.json, so a new
route is swept without editing this file. Lists, searches and idempotency keys must not leak
either, and nothing B did may change A's resources.

Shared tasks: every such operation is also called by each role a user can have towards one of
A's tasks (owner, viewer, runner, stranger, and a user whose share was revoked), each call on a
fresh shared task, against a table of what each role gets (SHARED_ROUTES: a new route must be
added there, so what sharing means for it is decided, not assumed).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.hardening.users import API, User, create_task, sign_up

pytestmark = pytest.mark.hardening(suite="api/idor")

# A receiver nobody listens on, allow-listed so that webhooks can be registered here at all.
HOOK_URL = "http://127.0.0.1:65534/hook"


@pytest.fixture
def tasks_settings_overrides() -> dict[str, Any]:
    return {"webhook_allow_http": True, "webhook_allow_list": ["127.0.0.1/32"]}


NOT_FOUND = {
    "task_id": {"error": "Task not found"},
    "execution_id": {"error": "Execution not found"},
    "api_key_id": {"error": "API key not found"},
    "webhook_id": {"error": "Webhook not found"},
}
# Users may not PUT an execution at all: the same 403 for theirs, others' and missing ones.
ADMIN_ONLY = {("PUT", "/api/v1/executions/{execution_id}"): (403, {"error": "Access denied"})}
BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("PUT", "/api/v1/tasks/{task_id}"): {"name": "mine now", "script_content": "print('pwned')"},
    ("PUT", "/api/v1/executions/{execution_id}"): {"status": "completed", "return_code": 0},
    ("POST", "/api/v1/tasks/{task_id}/shares"): {"email": "mallory@example.com", "role": "runner"},
    ("PATCH", "/api/v1/webhooks/{webhook_id}"): {
        "url": "http://127.0.0.1:65534/mine",
        "enabled": True,
    },
}
SHARES = "/api/v1/tasks/{task_id}/shares"


def _id_operations(schema: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(method, path, id parameter) of every operation addressed by an id NOT_FOUND names."""
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
    # A share is revoked by its email, in the query.
    params = (
        {"email": ids.get("email", "mallory@example.com")}
        if (method, path)
        == (
            "DELETE",
            SHARES,
        )
        else None
    )
    # A short read timeout: a log stream that opened for B would otherwise hang here.
    return await client.request(method, url, json=body, params=params, headers=user.auth, timeout=5)


async def _a_delivery(client: httpx.AsyncClient, user: User, webhook_id: str) -> str:
    """The id of a delivery the user's webhook owes: a one-shot run cancelled before it starts
    (this stack runs no executor) raises execution.cancelled."""
    run = await client.post(
        f"{API}/runs", json={"script_type": "python", "script_content": "1"}, headers=user.auth
    )
    assert run.status_code == 201, run.text
    cancel = await client.delete(f"{API}/executions/{run.json()['id']}", headers=user.auth)
    assert cancel.status_code == 200, cancel.text
    for _ in range(100):
        resp = await client.get(f"{API}/webhooks/{webhook_id}/deliveries", headers=user.auth)
        found = resp.json()["deliveries"]
        if found:
            delivery: str = found[0]["id"]
            return delivery
        await asyncio.sleep(0.1)
    raise AssertionError("no delivery was queued")


async def test_every_operation_hides_other_users_resources(
    client: httpx.AsyncClient, alice: User, bob: User, hardening_counters: Any
) -> None:
    secret = await create_task(
        client, alice, name="alice secret", metadata={"owner": "alice"}, env={"TOKEN": "s3cret"}
    )
    hook = await client.post(f"{API}/webhooks", json={"url": HOOK_URL}, headers=alice.auth)
    assert hook.status_code == 201, hook.text
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
    delivery = await _a_delivery(client, alice, hook.json()["id"])
    theirs = {
        "task_id": secret["id"],
        "execution_id": execution["id"],
        "api_key_id": key.json()["id"],
        "webhook_id": hook.json()["id"],
        "delivery_id": delivery,
    }
    nowhere = {
        "task_id": str(uuid.uuid4()),
        "execution_id": str(uuid.uuid4()),
        "api_key_id": str(uuid.uuid4()),
        "webhook_id": str(uuid.uuid4()),
        "delivery_id": str(uuid.uuid4()),
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
    # Nor through a webhook of B's own: A's delivery is not found under it, A's webhooks unlisted.
    own_hook = await client.post(f"{API}/webhooks", json={"url": HOOK_URL}, headers=bob.auth)
    assert own_hook.status_code == 201, own_hook.text
    crossed = await client.post(
        f"{API}/webhooks/{own_hook.json()['id']}/deliveries/{delivery}/redeliver", headers=bob.auth
    )
    assert (crossed.status_code, crossed.json()) == (404, {"error": "Delivery not found"})
    listed_hooks = (await client.get(f"{API}/webhooks", headers=bob.auth)).json()["webhooks"]
    assert [h["id"] for h in listed_hooks] == [own_hook.json()["id"]]
    keys = (await client.get(f"{API}/auth/api-keys", headers=alice.auth)).json()["api_keys"]
    assert [k["id"] for k in keys] == [key.json()["id"]]


# -- shares: every route by every role of a shared task --------------------------------------

ROLES = ("owner", "viewer", "runner", "stranger", "revoked")
OK = {"owner": 200, "viewer": 200, "runner": 200}
OWNER_ONLY = {"owner": 200, "viewer": 403, "runner": 403}
RUNS = {"owner": 200, "viewer": 403, "runner": 200}


@dataclass(frozen=True, slots=True)
class Expect:
    """What each role gets from one operation (roles left out: 404 as for a missing id), and
    whether the task must be idle (its execution cancelled) before the call."""

    statuses: dict[str, int]
    idle: bool = False


# Every operation addressed by a task or execution id, by what a role of the task may do. The
# sweep fails on an operation missing here, so a new route is decided on, not skipped.
SHARED_ROUTES: dict[tuple[str, str], Expect] = {
    ("GET", "/api/v1/tasks/{task_id}"): Expect(OK),
    ("PUT", "/api/v1/tasks/{task_id}"): Expect(OWNER_ONLY, idle=True),
    ("DELETE", "/api/v1/tasks/{task_id}"): Expect(OWNER_ONLY, idle=True),
    ("GET", "/api/v1/tasks/{task_id}/executions"): Expect(OK),
    ("POST", "/api/v1/tasks/{task_id}/executions"): Expect(
        {"owner": 201, "viewer": 403, "runner": 201}, idle=True
    ),
    ("GET", SHARES): Expect(OWNER_ONLY),
    ("POST", SHARES): Expect({"owner": 201, "viewer": 403, "runner": 403}),
    # The call names the viewer's email: the viewer may leave; the runner may not remove them.
    ("DELETE", SHARES): Expect({"owner": 200, "viewer": 200, "runner": 403}),
    ("GET", "/api/v1/executions/{execution_id}"): Expect(OK),
    ("PUT", "/api/v1/executions/{execution_id}"): Expect(
        dict.fromkeys(ROLES, 403)  # users never report progress, whoever's it is
    ),
    ("DELETE", "/api/v1/executions/{execution_id}"): Expect(RUNS),
    ("GET", "/api/v1/executions/{execution_id}/logs"): Expect(OK, idle=True),
    ("POST", "/api/v1/executions/{execution_id}/logs/token"): Expect(OK),
}


@dataclass(frozen=True, slots=True)
class SharedWorld:
    """A task of `owner` shared with a viewer and a runner (and once with a revoked user),
    with one execution of it."""

    users: dict[str, User]
    task: dict[str, Any]
    execution: dict[str, Any]


async def _shared_world(
    client: httpx.AsyncClient, users: dict[str, User], idle: bool
) -> SharedWorld:
    owner = users["owner"]
    task = await create_task(
        client, owner, name="shared secret", env={"TOKEN": "s3cret"}, metadata={"owner": "o"}
    )
    shares = f"{API}/tasks/{task['id']}/shares"
    for role in ("viewer", "runner", "revoked"):
        share = {"email": users[role].email, "role": "runner" if role == "revoked" else role}
        assert (await client.post(shares, json=share, headers=owner.auth)).status_code == 201
    revoke = await client.delete(
        shares, params={"email": users["revoked"].email}, headers=owner.auth
    )
    assert revoke.status_code == 200
    started = await client.post(f"{API}/tasks/{task['id']}/executions", headers=owner.auth)
    assert started.status_code == 201, started.text
    if idle:
        cancel = await client.delete(f"{API}/executions/{started.json()['id']}", headers=owner.auth)
        assert cancel.status_code == 200
    return SharedWorld(users, task, started.json())


async def test_every_operation_by_every_role_of_a_shared_task(
    client: httpx.AsyncClient, hardening_counters: Any
) -> None:
    users = {role: await sign_up(client, role) for role in ROLES}
    schema = (await client.get("/openapi.json")).json()
    operations = [
        (m, p) for m, p, param in _id_operations(schema) if param in ("task_id", "execution_id")
    ]
    undecided = sorted(set(operations) - set(SHARED_ROUTES))
    assert not undecided, f"decide what each role of a shared task gets from: {undecided}"
    assert sorted(set(SHARED_ROUTES) - set(operations)) == []  # none renamed out of the sweep
    wrong = []
    for method, path in operations:
        expect = SHARED_ROUTES[method, path]
        for role in ROLES:
            # A fresh world for every call: calls change things (start, cancel, delete).
            world = await _shared_world(client, users, expect.idle)
            ids = {
                "task_id": world.task["id"],
                "execution_id": world.execution["id"],
                "email": users["viewer"].email,
            }
            status = expect.statuses.get(role, 404)
            resp = await _call(client, method, path, ids, users[role])
            body = resp.json() if "json" in resp.headers.get("content-type", "") else None
            leaked = status >= 400 and ("s3cret" in resp.text or world.task["id"] in resp.text)
            if resp.status_code != status or leaked:
                wrong.append(f"{role} {method} {path}: {resp.status_code} {resp.text[:200]}")
            elif status == 404:
                param = "execution_id" if "{execution_id}" in path else "task_id"
                if body != NOT_FOUND[param]:
                    wrong.append(f"{role} {method} {path}: 404 with {body}")
            elif status == 403 and body != {"error": "Access denied"}:
                wrong.append(f"{role} {method} {path}: 403 with {body}")
            elif role != "owner" and status < 300 and "s3cret" in resp.text:
                wrong.append(f"{role} {method} {path}: env value shown to a non-owner")
    cases = len(operations) * len(ROLES)
    hardening_counters.add_cases(cases)
    hardening_counters.add_contained(cases - len(wrong))
    assert not wrong, "\n".join(wrong)

    # Lists: the viewer and runner see the shared task only under shared=with_me, the revoked
    # user and the stranger never; nobody's execution list shows the owner's runs.
    world = await _shared_world(client, users, idle=True)
    for role in ROLES:
        auth = users[role].auth
        own = (await client.get(f"{API}/tasks", params={"limit": "100"}, headers=auth)).json()
        shared = await client.get(f"{API}/tasks", params={"shared": "with_me"}, headers=auth)
        visible = {t["id"] for t in shared.json()["tasks"]}
        runs = (await client.get(f"{API}/executions", headers=auth)).json()["executions"]
        if role == "owner":
            assert world.task["id"] in {t["id"] for t in own["tasks"]}
            continue
        assert own["tasks"] == [], role
        assert (world.task["id"] in visible) == (role in ("viewer", "runner")), role
        assert world.execution["id"] not in {e["id"] for e in runs}, role

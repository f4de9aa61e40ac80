"""Webhooks, task shares and `verify_webhook` without a server: the requests both clients build
(method, path, query, body) and how the answers are read, over httpx.MockTransport."""

from __future__ import annotations

import base64
import datetime as dt
import json
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from standardwebhooks.webhooks import Webhook as Signer

from voidrunner.client import (
    AsyncClient,
    Client,
    Conflict,
    NotFound,
    RunSpec,
    TaskSpec,
    TaskUpdate,
    WebhookUpdate,
    WebhookVerificationFailed,
    verify_webhook,
)

URL = "http://gateway.test"
NOW = "2026-12-02T10:00:00Z"
HOOK = str(uuid.UUID(int=7))
TASK = str(uuid.UUID(int=8))
EXECUTION = str(uuid.UUID(int=9))
Seen = list[tuple[str, str, dict[str, str], object]]


def hook_body(n: int, **extra: object) -> dict[str, object]:
    return {
        "id": str(uuid.UUID(int=n)),
        "url": f"https://example.com/{n}",
        "events": [],
        "enabled": True,
        "description": "",
        "created_at": NOW,
        "updated_at": NOW,
        **extra,
    }


def delivery_body(n: int, state: str = "delivered") -> dict[str, object]:
    return {
        "id": str(uuid.UUID(int=n)),
        "message_id": f"msg_{n}",
        "webhook_id": HOOK,
        "event_type": "execution.completed",
        "execution_id": EXECUTION,
        "state": state,
        "attempts": 1,
        "created_at": NOW,
        "attempt_log": [
            {"attempt": 1, "attempted_at": NOW, "status_code": 200, "latency_ms": 12},
        ],
    }


def task_body(**extra: object) -> dict[str, object]:
    return {
        "id": TASK,
        "user_id": str(uuid.uuid4()),
        "name": "t",
        "script_type": "python",
        "script_content": "print(1)",
        "status": "pending",
        "priority": 5,
        "timeout_seconds": 300,
        "metadata": {},
        "memory_limit_mb": 128,
        "cpu_limit": 1.0,
        "max_output_bytes": 1048576,
        "created_at": NOW,
        "updated_at": NOW,
        **extra,
    }


def share_body(email: str, role: str) -> dict[str, object]:
    return {"email": email, "role": role, "created_at": NOW, "updated_at": NOW}


def hooks_route(request: httpx.Request, body: dict[str, Any]) -> httpx.Response:  # noqa: PLR0911
    """The fake gateway's /webhooks."""
    path, method, params = request.url.path, request.method, request.url.params
    hooks = "/api/v1/webhooks"
    if path == hooks and method == "POST":
        return httpx.Response(201, json=hook_body(7, secret="whsec_new", **body))
    if path == hooks:
        if params.get("cursor") == "p2":
            return httpx.Response(
                200, json={"webhooks": [hook_body(1)], "pagination": {"has_more": False}}
            )
        page = {"has_more": True, "next_cursor": "p2"}
        return httpx.Response(200, json={"webhooks": [hook_body(2)], "pagination": page})
    if path == f"{hooks}/secret":
        return httpx.Response(200, json={"exists": True, "created_at": NOW})
    if path == f"{hooks}/secret/rotate":
        until = "2026-12-03T10:00:00Z"
        return httpx.Response(
            200, json={"secret": "whsec_rot", "previous_valid_until": until, "created_at": NOW}
        )
    if path == f"{hooks}/{HOOK}/deliveries":
        if params.get("cursor") == "d2":
            page = {"deliveries": [delivery_body(1)], "pagination": {"has_more": False}}
            return httpx.Response(200, json=page)
        more = {"has_more": True, "next_cursor": "d2"}
        return httpx.Response(200, json={"deliveries": [delivery_body(2)], "pagination": more})
    if path.endswith("/redeliver"):
        if path.startswith(f"{hooks}/{HOOK}/"):
            return httpx.Response(202, json=delivery_body(2, "pending"))
        return httpx.Response(409, json={"error": "Webhook is disabled"})
    if path != f"{hooks}/{HOOK}":
        return httpx.Response(404, json={"error": "Webhook not found"})
    if method == "PATCH":
        return httpx.Response(200, json=hook_body(7, **body))
    if method == "DELETE":
        return httpx.Response(204)
    return httpx.Response(200, json=hook_body(7, enabled=False, disabled_reason="gone"))


def tasks_route(request: httpx.Request, body: dict[str, Any]) -> httpx.Response:  # noqa: PLR0911
    """The fake gateway's /tasks (with their shares) and /runs."""
    path, method = request.url.path, request.method
    shares = f"/api/v1/tasks/{TASK}/shares"
    if path == shares and method == "POST":
        return httpx.Response(201, json=share_body(body["email"], body["role"]))
    if path == shares and method == "DELETE":
        if request.url.params["email"] == "grace@example.com":
            return httpx.Response(200, json={"message": "Share removed successfully"})
        return httpx.Response(404, json={"error": "Share not found"})
    if path == shares:
        return httpx.Response(200, json={"shares": [share_body("grace@example.com", "viewer")]})
    if path == "/api/v1/tasks" and method == "GET":
        page = {"tasks": [task_body(shared_role="runner")], "limit": 20}
        return httpx.Response(200, json={**page, "pagination": {"has_more": False}})
    if path in {"/api/v1/tasks", f"/api/v1/tasks/{TASK}"}:
        return httpx.Response(201, json=task_body(**body, webhook_secret="whsec_t"))
    if path == "/api/v1/runs":
        execution = {"id": EXECUTION, "status": "pending", "created_at": NOW}
        return httpx.Response(201, json={**execution, "webhook_secret": "whsec_r"})
    return httpx.Response(404, json={"error": f"no route {method} {path}"})


def server(seen: Seen) -> Callable[[httpx.Request], httpx.Response]:
    """A fake gateway for /webhooks, /tasks (and their shares) and /runs that records every
    request as (method, path, query, JSON body)."""

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else {}
        seen.append((request.method, request.url.path, dict(request.url.params), body or None))
        if request.url.path.startswith("/api/v1/webhooks"):
            return hooks_route(request, body)
        return tasks_route(request, body)

    return handler


def test_webhooks_are_created_listed_changed_and_deleted() -> None:
    seen: Seen = []
    with Client(URL, api_key="vr_k", transport=httpx.MockTransport(server(seen))) as vr:
        created = vr.webhooks.create(
            "https://example.com/h", events=["execution.failed"], description="ci"
        )
        assert (created.secret, created.events) == ("whsec_new", ["execution.failed"])
        assert seen[-1] == (
            "POST",
            "/api/v1/webhooks",
            {},
            {
                "url": "https://example.com/h",
                "events": ["execution.failed"],
                "enabled": True,
                "description": "ci",
            },
        )
        # Pages of 1: the iterator follows the cursor.
        assert [str(w.id) for w in vr.webhooks.list(page_size=1)] == [
            str(uuid.UUID(int=2)),
            str(uuid.UUID(int=1)),
        ]
        assert [s[2] for s in seen[-2:]] == [{"limit": "1"}, {"limit": "1", "cursor": "p2"}]
        shown = vr.webhooks.get(HOOK)
        assert (shown.enabled, shown.disabled_reason) == (False, "gone")
        # Only the fields set are sent: the others are kept by the server.
        changed = vr.webhooks.update(HOOK, WebhookUpdate(enabled=True))
        assert changed.enabled is True
        assert seen[-1] == ("PATCH", f"/api/v1/webhooks/{HOOK}", {}, {"enabled": True})
        vr.webhooks.delete(HOOK)
        assert seen[-1][:2] == ("DELETE", f"/api/v1/webhooks/{HOOK}")
        with pytest.raises(NotFound):
            vr.webhooks.get(uuid.uuid4())


def test_deliveries_redelivery_and_the_secret() -> None:
    seen: Seen = []
    with Client(URL, api_key="vr_k", transport=httpx.MockTransport(server(seen))) as vr:
        found = list(vr.webhooks.deliveries(HOOK, page_size=1))
        assert [d.message_id for d in found] == ["msg_2", "msg_1"]
        assert found[0].attempt_log[0].status_code == 200
        assert seen[-1][2] == {"limit": "1", "cursor": "d2"}
        again = vr.webhooks.redeliver(HOOK, found[0].id)
        assert again.state == "pending"
        assert seen[-1][:2] == (
            "POST",
            f"/api/v1/webhooks/{HOOK}/deliveries/{found[0].id}/redeliver",
        )
        with pytest.raises(Conflict, match="disabled"):
            vr.webhooks.redeliver(uuid.uuid4(), found[0].id)
        info = vr.webhooks.secret()
        assert (info.exists, info.previous_valid_until) == (True, None)
        rotated = vr.webhooks.rotate_secret()
        assert rotated.secret == "whsec_rot"
        assert rotated.previous_valid_until == dt.datetime(2026, 12, 3, 10, tzinfo=dt.UTC)
        assert seen[-1][:2] == ("POST", "/api/v1/webhooks/secret/rotate")


def test_shares_and_the_tasks_shared_with_me() -> None:
    seen: Seen = []
    with Client(URL, api_key="vr_k", transport=httpx.MockTransport(server(seen))) as vr:
        share = vr.shares.put(TASK, "grace@example.com", "runner")
        assert share.role == "runner"
        assert seen[-1] == (
            "POST",
            f"/api/v1/tasks/{TASK}/shares",
            {},
            {"email": "grace@example.com", "role": "runner"},
        )
        assert [(s.email, s.role) for s in vr.shares.list(TASK)] == [
            ("grace@example.com", "viewer")
        ]
        vr.shares.delete(TASK, "grace@example.com")
        assert seen[-1][:3] == (
            "DELETE",
            f"/api/v1/tasks/{TASK}/shares",
            {"email": "grace@example.com"},
        )
        with pytest.raises(NotFound, match="Share not found"):
            vr.shares.delete(TASK, "nobody@example.com")
        (task,) = vr.tasks.list(shared="with_me")
        assert task.shared_role == "runner"
        assert seen[-1][2] == {"shared": "with_me"}


def test_callback_url_goes_out_and_the_new_secret_comes_back() -> None:
    seen: Seen = []
    with Client(URL, api_key="vr_k", transport=httpx.MockTransport(server(seen))) as vr:
        spec = TaskSpec(
            name="t",
            script_type="python",
            script_content="print(1)",
            callback_url="https://example.com/cb",
        )
        task = vr.tasks.create(spec)
        assert seen[-1][3] == {
            "name": "t",
            "script_type": "python",
            "script_content": "print(1)",
            "callback_url": "https://example.com/cb",
        }
        assert (task.callback_url, task.webhook_secret) == ("https://example.com/cb", "whsec_t")
        # callback_url=None set: sent as null, which removes it.
        vr.tasks.update(TASK, TaskUpdate(callback_url=None))
        assert seen[-1][3] == {"callback_url": None}
        run = vr.runs.create(
            RunSpec(script_type="python", script_content="1", callback_url="https://x.test/r")
        )
        assert seen[-1][3] == {
            "script_type": "python",
            "script_content": "1",
            "callback_url": "https://x.test/r",
        }
        assert run.webhook_secret == "whsec_r"


async def test_the_async_client_builds_the_same_requests() -> None:
    seen: Seen = []
    transport = httpx.MockTransport(server(seen))
    async with AsyncClient(URL, api_key="vr_k", transport=transport) as vr:
        created = await vr.webhooks.create("https://example.com/h")
        assert created.secret == "whsec_new"
        assert seen[-1][3] == {
            "url": "https://example.com/h",
            "events": [],
            "enabled": True,
            "description": "",
        }
        assert len([w async for w in vr.webhooks.list(page_size=1)]) == 2
        assert (await vr.webhooks.update(HOOK, WebhookUpdate(enabled=False))).enabled is False
        await vr.webhooks.delete(HOOK)
        found = [d async for d in vr.webhooks.deliveries(HOOK)]
        assert len(found) == 2
        assert (await vr.webhooks.redeliver(HOOK, found[0].id)).state == "pending"
        assert (await vr.webhooks.secret()).exists
        assert (await vr.webhooks.rotate_secret()).secret == "whsec_rot"
        assert (await vr.shares.put(TASK, "grace@example.com", "viewer")).role == "viewer"
        assert len(await vr.shares.list(TASK)) == 1
        await vr.shares.delete(TASK, "grace@example.com")
        assert [t.shared_role async for t in vr.tasks.list(shared="with_me")] == ["runner"]
    # Both clients send what _ops builds: the same paths in the same order as the sync ones.
    assert [s[:2] for s in seen[:3]] == [
        ("POST", "/api/v1/webhooks"),
        ("GET", "/api/v1/webhooks"),
        ("GET", "/api/v1/webhooks"),
    ]


# verify_webhook

SECRET = "whsec_" + base64.b64encode(b"k" * 32).decode()
OTHER = "whsec_" + base64.b64encode(b"o" * 32).decode()
EVENT = {
    "type": "execution.completed",
    "timestamp": NOW,
    "data": {"execution_id": EXECUTION, "status": "completed", "return_code": 0},
}


def signed(
    body: bytes, *secrets: str, when: dt.datetime | None = None, msg_id: str = "msg_1"
) -> dict[str, str]:
    """The headers the server sends: one `v1,` signature per secret (two while rotating)."""
    when = when or dt.datetime.now(dt.UTC)
    signatures = [Signer(s).sign(msg_id, when, body.decode()) for s in secrets or (SECRET,)]
    return {
        "Webhook-Id": msg_id,
        "Webhook-Timestamp": str(int(when.timestamp())),
        "Webhook-Signature": " ".join(signatures),
    }


def test_verify_webhook_reads_a_signed_event() -> None:
    body = json.dumps(EVENT).encode()
    event = verify_webhook(body, signed(body), SECRET)
    assert (event.type, str(event.data.execution_id)) == ("execution.completed", EXECUTION)
    assert (event.data.status, event.data.return_code) == ("completed", 0)
    # Any header mapping, a str body, and both secrets during a rotation.
    both = httpx.Headers(signed(body, OTHER, SECRET))
    assert verify_webhook(body.decode(), both, SECRET) == verify_webhook(body, both, OTHER)


@pytest.mark.parametrize(
    "tamper",
    ["body", "secret", "old", "missing", "malformed", "bad secret", "not utf-8"],
)
def test_verify_webhook_refuses_what_the_secret_did_not_sign(tamper: str) -> None:
    body = json.dumps(EVENT).encode()
    headers, secret = signed(body), SECRET
    if tamper == "body":
        body = body.replace(b"completed", b"failed")
    elif tamper == "secret":
        secret = OTHER
    elif tamper == "old":
        headers = signed(body, when=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=6))
    elif tamper == "missing":
        del headers["Webhook-Signature"]
    elif tamper == "not utf-8":
        body = b"\xff" + body
    elif tamper == "malformed":
        headers["Webhook-Signature"] = "v1"
    else:
        secret = "whsec_!!not base64!!"
    with pytest.raises(WebhookVerificationFailed):
        verify_webhook(body, headers, secret)


def test_a_signed_body_that_is_not_an_event_is_refused() -> None:
    body = b'{"hello": "world"}'
    with pytest.raises(WebhookVerificationFailed, match="not a VoidRunner event"):
        verify_webhook(body, signed(body), SECRET)

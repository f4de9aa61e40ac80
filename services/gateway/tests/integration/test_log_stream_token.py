"""Stream tokens: how a browser's EventSource (no Authorization header) follows one execution's
logs, and everything such a token must not open."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx

Headers = dict[str, str]
MakeTask = Callable[..., Awaitable[dict[str, Any]]]


async def _finished(
    client: httpx.AsyncClient, make_task: MakeTask, owner: Headers, admin: Headers
) -> dict[str, Any]:
    """An execution of `owner` that an admin report has finished with some output."""
    task = await make_task(owner)
    started = await client.post(f"/api/v1/tasks/{task['id']}/executions", headers=owner)
    assert started.status_code == 201
    url = f"/api/v1/executions/{started.json()['id']}"
    assert (await client.put(url, json={"status": "running"}, headers=admin)).status_code == 200
    body = {"status": "completed", "return_code": 0, "stdout": "streamed\n"}
    done = await client.put(url, json=body, headers=admin)
    assert done.status_code == 200, done.text
    result: dict[str, Any] = done.json()
    return result


async def _token(client: httpx.AsyncClient, execution_id: str, who: Headers) -> httpx.Response:
    return await client.post(f"/api/v1/executions/{execution_id}/logs/token", headers=who)


async def test_a_stream_token_opens_that_executions_log_and_nothing_else(
    client: httpx.AsyncClient, make_task: MakeTask, alice: Headers, bob: Headers, admin: Headers
) -> None:
    first = await _finished(client, make_task, alice, admin)
    second = await _finished(client, make_task, alice, admin)
    issued = await _token(client, first["id"], alice)
    assert issued.status_code == 200, issued.text
    token = issued.json()["stream_token"]
    assert 0 < issued.json()["expires_in"] <= 60
    logs = f"/api/v1/executions/{first['id']}/logs"
    stream = await client.get(logs, params={"stream_token": token})
    assert stream.status_code == 200
    assert stream.headers["content-type"].startswith("text/event-stream")
    assert "streamed" in stream.text
    assert "event: end" in stream.text
    # Not another execution's log, not the API, not as a bearer token.
    other = await client.get(f"/api/v1/executions/{second['id']}/logs?stream_token={token}")
    assert (other.status_code, other.json()) == (401, {"error": "Invalid or expired token"})
    assert other.headers["www-authenticate"] == "Bearer"
    as_bearer = await client.get("/api/v1/tasks", headers={"Authorization": f"Bearer {token}"})
    assert as_bearer.status_code == 401
    as_bearer_logs = await client.get(logs, headers={"Authorization": f"Bearer {token}"})
    assert as_bearer_logs.status_code == 401
    forged = await client.get(logs, params={"stream_token": token[:-4] + "AAAA"})
    assert forged.status_code == 401
    # Someone else's execution: not found, as everywhere.
    assert (await _token(client, first["id"], bob)).status_code == 404
    assert (await client.post(f"/api/v1/executions/{first['id']}/logs/token")).status_code == 401


async def test_logging_out_revokes_the_stream_tokens_of_that_session(
    client: httpx.AsyncClient, make_task: MakeTask, alice: Headers, admin: Headers
) -> None:
    execution = await _finished(client, make_task, alice, admin)
    token = (await _token(client, execution["id"], alice)).json()["stream_token"]
    assert (await client.post("/api/v1/auth/logout", headers=alice)).status_code == 200
    logs = f"/api/v1/executions/{execution['id']}/logs"
    for _ in range(50):  # the revocation reaches the gateway through NATS within moments
        refused = await client.get(logs, params={"stream_token": token})
        if refused.status_code == 401:
            break
    assert refused.status_code == 401


async def test_revoking_an_api_key_revokes_the_stream_tokens_it_asked_for(
    client: httpx.AsyncClient, make_task: MakeTask, alice: Headers, admin: Headers
) -> None:
    execution = await _finished(client, make_task, alice, admin)
    created = await client.post(
        "/api/v1/auth/api-keys", json={"name": "ci", "scopes": ["read", "run"]}, headers=alice
    )
    assert created.status_code == 201, created.text
    key = {"Authorization": f"Bearer {created.json()['key']}"}
    issued = await _token(client, execution["id"], key)
    assert issued.status_code == 200, issued.text
    token = issued.json()["stream_token"]
    logs = f"/api/v1/executions/{execution['id']}/logs"
    assert (await client.get(logs, params={"stream_token": token})).status_code == 200
    revoked = await client.delete(f"/api/v1/auth/api-keys/{created.json()['id']}", headers=alice)
    assert revoked.status_code == 204, revoked.text
    for _ in range(50):  # the revocation reaches the gateway through NATS within moments
        refused = await client.get(logs, params={"stream_token": token})
        if refused.status_code == 401:
            break
    assert refused.status_code == 401

"""Rate limits: headers, 429s, quota only after authentication, shared by two gateway processes,
and failing open when NATS is gone."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from voidrunner.devstack.credentials import Credentials
from voidrunner.devstack.nats import EmbeddedNats
from voidrunner.devstack.processes import free_port, terminate

PASSWORD = "Sup3r-secret!"
TASK = {"name": "t", "script_content": "print(1)", "script_type": "python"}


@pytest.fixture
def gateway_settings_overrides() -> dict[str, Any]:
    return {
        "rate_limit_register": 3,
        "rate_limit_login": 3,
        "rate_limit_task_create": 2,
        "rate_limit_tasks": 4,
        "rate_limit_timeout_seconds": 0.3,
    }


async def _register(client: httpx.AsyncClient) -> tuple[str, dict[str, str]]:
    email = f"u-{uuid.uuid4().hex[:8]}@example.com"
    resp = await client.post(
        "/api/v1/auth/register", json={"email": email, "password": PASSWORD, "name": "u"}
    )
    assert resp.status_code == 201, resp.text
    return email, {"Authorization": f"Bearer {resp.json()['access_token']}"}


def _assert_limited(resp: httpx.Response, limit: int) -> None:
    assert resp.status_code == 429, resp.text
    retry = resp.json()["retry_after"]
    assert resp.json() == {"error": "Rate limit exceeded", "retry_after": retry}
    assert 0 < retry <= 3600
    assert resp.headers["retry-after"] == str(retry)
    assert resp.headers["ratelimit-limit"] == str(limit)
    assert resp.headers["ratelimit-remaining"] == "0"


async def test_user_limits_with_headers(client: httpx.AsyncClient) -> None:
    _, alice = await _register(client)
    _, bob = await _register(client)
    # Rejected authentication never counts against a user.
    for _ in range(5):
        denied = await client.post(
            "/api/v1/tasks", json=TASK, headers={"Authorization": "Bearer x"}
        )
        assert denied.status_code == 401
    for remaining in (1, 0):
        made = await client.post("/api/v1/tasks", json=TASK, headers=alice)
        assert made.status_code == 201
        assert made.headers["ratelimit-limit"] == "2"
        assert made.headers["ratelimit-remaining"] == str(remaining)
        assert 0 < int(made.headers["ratelimit-reset"]) <= 3600
    _assert_limited(await client.post("/api/v1/tasks", json=TASK, headers=alice), 2)
    # Other buckets and other users are separate.
    assert (await client.post("/api/v1/tasks", json=TASK, headers=bob)).status_code == 201
    task_id = (await client.get("/api/v1/tasks", headers=alice)).json()["tasks"][0]["id"]
    missing = await client.get(f"/api/v1/tasks/{uuid.uuid4()}", headers=alice)
    assert missing.status_code == 404
    assert missing.headers["ratelimit-remaining"] == "2"  # errors carry the headers too
    one = await client.get(f"/api/v1/tasks/{task_id}", headers=alice)
    assert (one.status_code, one.headers["ratelimit-remaining"]) == (200, "1")
    last = await client.get(f"/api/v1/tasks/{task_id}", headers=alice)
    assert (last.status_code, last.headers["ratelimit-remaining"]) == (200, "0")
    _assert_limited(await client.get("/api/v1/tasks", headers=alice), 4)


async def test_ip_limits(client: httpx.AsyncClient) -> None:
    email, _ = await _register(client)
    for _ in range(3):
        resp = await client.post(
            "/api/v1/auth/login", json={"email": email, "password": "Wrong-pass1!"}
        )
        assert resp.status_code == 401
    _assert_limited(
        await client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD}), 3
    )
    await _register(client)
    await _register(client)
    resp = await client.post(
        "/api/v1/auth/register", json={"email": "z@example.com", "password": PASSWORD, "name": "z"}
    )
    _assert_limited(resp, 3)


async def test_fail_open_when_nats_is_down(
    client: httpx.AsyncClient, nats_server: EmbeddedNats
) -> None:
    _, alice = await _register(client)
    nats_server.stop()
    for _ in range(3):  # above the create limit of 2: nothing is counted while NATS is away
        made = await client.post("/api/v1/tasks", json=TASK, headers=alice)
        assert made.status_code == 201, made.text
        assert "ratelimit-limit" not in made.headers


@pytest.fixture
async def two_gateways(
    auth_addr: str, tasks_addr: str, nats_url: str, service_credentials: Credentials
) -> AsyncIterator[list[str]]:
    """Two real gateway processes sharing one NATS, with strict limits."""
    procs: list[subprocess.Popen[bytes]] = []
    urls: list[str] = []
    for _ in range(2):
        port = free_port()
        env = {
            **os.environ,
            "VOIDRUNNER_ENVIRONMENT": "test",
            "VOIDRUNNER_LOG_LEVEL": "WARNING",
            "VOIDRUNNER_GATEWAY_HOST": "127.0.0.1",
            "VOIDRUNNER_GATEWAY_PORT": str(port),
            "VOIDRUNNER_AUTH_ADDR": auth_addr,
            "VOIDRUNNER_TASKS_ADDR": tasks_addr,
            "VOIDRUNNER_NATS_URL": nats_url,
            "VOIDRUNNER_RATE_LIMIT_LOGIN": "4",
            "VOIDRUNNER_RATE_LIMIT_TASK_CREATE": "3",
            **service_credentials.environment("gateway"),
        }
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "voidrunner.gateway"],
                env=env,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        )
        urls.append(f"http://127.0.0.1:{port}")
    try:
        async with httpx.AsyncClient(timeout=2) as probe:
            for url, proc in zip(urls, procs, strict=True):
                for _ in range(300):
                    assert proc.poll() is None, "gateway process exited"
                    try:
                        if (await probe.get(f"{url}/health")).status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    await asyncio.sleep(0.05)
        yield urls
    finally:
        for proc in procs:
            terminate(proc.pid, grace=5.0)
            proc.wait()


async def test_limits_are_shared_by_two_gateway_processes(two_gateways: list[str]) -> None:
    a, b = (httpx.AsyncClient(base_url=url, timeout=10) for url in two_gateways)
    async with a, b:
        email, headers = await _register(a)
        login = {"email": email, "password": PASSWORD}
        remaining = []
        for client in (a, b, a, b):
            resp = await client.post("/api/v1/auth/login", json=login)
            assert resp.status_code == 200, resp.text
            remaining.append(int(resp.headers["ratelimit-remaining"]))
        assert remaining == [3, 2, 1, 0]
        _assert_limited(await a.post("/api/v1/auth/login", json=login), 4)
        _assert_limited(await b.post("/api/v1/auth/login", json=login), 4)
        results = await asyncio.gather(
            *(c.post("/api/v1/tasks", json=TASK, headers=headers) for c in (a, b, a, b, a, b))
        )
        assert sorted(r.status_code for r in results) == [201, 201, 201, 429, 429, 429]

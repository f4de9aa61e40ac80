"""Brute-force login against two gateway processes that share one rate limit (NATS KV).

A burst of concurrent wrong-password attempts, spread over both gateways, gets exactly the
limit's worth of answers; every other attempt is refused with 429, Retry-After and the
RateLimit-* headers, and the right password is refused too once the limit is spent.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.hardening.stack import ServiceProcess
from tests.hardening.users import API, PASSWORD, sign_up
from voidrunner.devstack.credentials import Credentials
from voidrunner.devstack.processes import free_port

pytestmark = pytest.mark.hardening(suite="api/brute-force")

LOGIN_LIMIT = 5
ATTEMPTS = 40


@pytest.fixture
async def gateways(
    auth_addr: str,
    tasks_addr: str,
    nats_url: str,
    tmp_path: Path,
    processes: Callable[[ServiceProcess], ServiceProcess],
    service_credentials: Credentials,
) -> list[str]:
    urls = []
    for _ in range(2):
        port = free_port()
        processes(
            ServiceProcess(
                "gateway",
                tmp_path,
                **service_credentials.identity("gateway"),
                gateway_host="127.0.0.1",
                gateway_port=port,
                auth_addr=auth_addr,
                tasks_addr=tasks_addr,
                nats_url=nats_url,
                log_level="WARNING",
                rate_limit_login=LOGIN_LIMIT,
            )
        )
        urls.append(f"http://127.0.0.1:{port}")
    async with httpx.AsyncClient(timeout=2) as probe, asyncio.timeout(30):
        for url in urls:
            while True:
                try:
                    if (await probe.get(f"{url}/ready")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
    return urls


async def test_brute_force_login_meets_the_shared_limit(
    client: httpx.AsyncClient, gateways: list[str], hardening_counters: Any
) -> None:
    victim = await sign_up(client, "victim")  # through the in-process gateway: no login quota
    clients = [httpx.AsyncClient(base_url=url, timeout=10) for url in gateways]
    try:

        async def guess(i: int) -> httpx.Response:
            return await clients[i % 2].post(
                f"{API}/auth/login", json={"email": victim.email, "password": f"Guess-{i}!a"}
            )

        answers = await asyncio.gather(*(guess(i) for i in range(ATTEMPTS)))
        right = await clients[0].post(
            f"{API}/auth/login", json={"email": victim.email, "password": PASSWORD}
        )
    finally:
        for c in clients:
            await c.aclose()

    statuses = Counter(r.status_code for r in answers)
    hardening_counters.add_cases(ATTEMPTS + 1)
    hardening_counters.add_contained(statuses[401] + statuses[429] + (right.status_code == 429))
    hardening_counters.add_5xx(sum(n for s, n in statuses.items() if s >= 500))
    assert statuses == {401: LOGIN_LIMIT, 429: ATTEMPTS - LOGIN_LIMIT}, statuses
    for resp in answers:
        assert resp.headers["ratelimit-limit"] == str(LOGIN_LIMIT)
        assert 0 < int(resp.headers["ratelimit-reset"]) <= 3600
        if resp.status_code == 401:
            assert resp.json() == {"error": "Invalid email or password"}
            continue
        retry = resp.json()["retry_after"]
        assert resp.json() == {"error": "Rate limit exceeded", "retry_after": retry}
        assert resp.headers["retry-after"] == str(retry)
        assert resp.headers["ratelimit-remaining"] == "0"
    # Each allowed attempt spent one unit: the remainders they saw are exactly 4..0.
    remaining = sorted(
        int(r.headers["ratelimit-remaining"]) for r in answers if r.status_code == 401
    )
    assert remaining == list(range(LOGIN_LIMIT))
    # The limit is on the source, not on wrong guesses: the right password waits too.
    assert right.status_code == 429, right.text

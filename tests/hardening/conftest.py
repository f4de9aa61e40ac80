"""Fixtures for the hardening suites: signed-up users, service processes stopped afterwards.

Tests marked `long_run` (the fault and load runs, minutes each) run only with
VOIDRUNNER_HARDENING_LONG=1, which `make test-hardening` sets; `make test` keeps the quick ones
(IDOR, tokens, brute force, schemathesis).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest

from tests.hardening.stack import ServiceProcess
from tests.hardening.users import User, sign_up

LONG_RUNS = "VOIDRUNNER_HARDENING_LONG"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"long_run: minutes-long fault/load run; needs {LONG_RUNS}=1"
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if os.environ.get(LONG_RUNS) == "1":
        return
    skip = pytest.mark.skip(reason=f"long run: set {LONG_RUNS}=1 (make test-hardening does)")
    for item in items:
        if item.get_closest_marker("long_run") is not None:
            item.add_marker(skip)


@pytest.fixture
async def alice(client: httpx.AsyncClient) -> User:
    return await sign_up(client, "alice")


@pytest.fixture
async def bob(client: httpx.AsyncClient) -> User:
    return await sign_up(client, "bob")


@pytest.fixture
async def processes(tmp_path: Path) -> AsyncIterator[Callable[[ServiceProcess], ServiceProcess]]:
    """Start service processes through this; every one is stopped afterwards."""
    started: list[ServiceProcess] = []

    def spawn(service: ServiceProcess) -> ServiceProcess:
        started.append(service.start())
        return service

    yield spawn
    for service in reversed(started):
        service.stop()

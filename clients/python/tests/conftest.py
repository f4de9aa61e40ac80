"""The client's tests: the CLI as a subprocess and the SDK against a real stack (gateway over
HTTP, auth, tasks, scheduler and one bwrap executor), the API-key calls against MockTransport
(their server side lives on another branch)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from client_harness import Cli, register


@pytest.fixture
async def cli(gateway_url: str, client: httpx.AsyncClient, tmp_path: Path) -> Cli:
    """The CLI signed in (VOIDRUNNER_TOKEN) as a new user of the real stack."""
    _, token = await register(client)
    return Cli(gateway_url, tmp_path / "config", token)

"""`voidrunner runtimes` against the real stack: each runtime's aliases, and why one is
unavailable (the executor's reason, naming the package to install)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from client_harness import Cli

pytestmark = pytest.mark.sandbox

# The executor looks for a ruby that is not there: ruby is listed (the tasks service's catalogue
# is the bundled one) but unavailable, for the reason the executor gives.
MISSING = "ruby-not-on-this-host"


@pytest.fixture
def executor_settings_overrides(tmp_path: Path) -> dict[str, Any]:
    override = tmp_path / "runtimes.toml"
    override.write_text(f'[runtimes.ruby]\nhost_binaries = ["{MISSING}"]\n')
    return {"runtimes_file": override}


async def _adverts_landed(cli: Cli) -> list[dict[str, Any]]:
    """The runtimes once the executor's adverts are in (they land moments after it is up)."""
    for _ in range(100):
        listed: list[dict[str, Any]] = json.loads((await cli("runtimes", "--json")).stdout)
        if all(r.get("reason") != "no live executor offers it" for r in listed):
            return listed
        await asyncio.sleep(0.1)
    raise AssertionError(f"the executor's adverts never arrived: {listed}")


async def test_the_table_shows_aliases_and_why_a_runtime_is_unavailable(
    cli: Cli, client: httpx.AsyncClient, pipeline: object
) -> None:
    listed = {r["name"]: r for r in await _adverts_landed(cli)}
    assert listed["ruby"]["available"] is False
    assert MISSING in listed["ruby"]["reason"]
    assert "c++" in listed["cpp"]["aliases"]

    shown = await cli("runtimes")
    assert shown.code == 0, shown.err
    header, *lines = shown.stdout.decode().splitlines()
    assert header.split() == ["NAME", "ALIASES", "VERSION", "AVAILABLE", "MAX", "TIME", "REASON"]
    rows = {line.split()[0]: line for line in lines}
    assert set(rows) == set(listed)
    # The reason as the executor gave it, package included, in the last column.
    assert rows["ruby"].endswith(listed["ruby"]["reason"])
    assert "make runtimes" in rows["ruby"]
    assert " no " in rows["ruby"]
    # Aliases comma-separated; an available runtime has no reason ("-").
    assert ", ".join(listed["cpp"]["aliases"]) in rows["cpp"]
    assert rows["python"].split()[-1] == "-"
    assert " yes " in rows["python"]

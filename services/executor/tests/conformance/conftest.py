"""The backend registry for the conformance suite: every test runs against every backend here.

Each entry is a factory that returns a `Backend` or calls `pytest.skip` naming the missing machine
capability. The docker entries import the docker backend (through sandbox_testing.docker_probe)
lazily, so this suite runs where that backend (or a Docker engine) is absent. The session ends
listing which backends ran.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from sandbox_testing.conformance import Backend, settled
from voidrunner.contracts.runtimes import load_catalog
from voidrunner.executor.sandbox.cgroups import CgroupDriver
from voidrunner.executor.sandbox.types import Sandbox, SandboxError

_RAN: dict[str, str] = {}
_CGROUP_PARENTS: list[Path] = []


def _bwrap() -> Backend:
    from voidrunner.executor.sandbox.bwrap import BwrapSandbox

    # A cgroup parent of this session's own: the shared `voidrunner` parent also holds other
    # executors' runs on this host (and empty groups an executor killed mid-run left behind),
    # which the leftovers check would otherwise count as ours.
    cgroups = CgroupDriver.detect(subdir=f"voidrunner-suite-{os.getpid()}-{secrets.token_hex(3)}")
    try:
        sandbox = BwrapSandbox(load_catalog(), cgroups=cgroups)
    except SandboxError as exc:
        pytest.skip(f"bwrap backend unavailable here: {exc}")
    parents = list(sandbox.cgroups.parents.values())
    _CGROUP_PARENTS.extend(parents)

    def leftovers() -> list[str]:
        return [
            str(p) for parent in parents if parent.is_dir() for p in parent.iterdir() if p.is_dir()
        ]

    return Backend("bwrap", sandbox, leftovers, BwrapSandbox)


def _docker(runtime: str) -> Callable[[], Backend]:
    def factory() -> Backend:
        try:
            from sandbox_testing.docker_probe import conformance_backend
        except ImportError as exc:
            pytest.skip(f"docker backend not importable: {exc}")
        # Only an engine named on purpose: never the machine's default socket.
        host = os.environ.get("VOIDRUNNER_TEST_DOCKER_HOST", "")
        if not host:
            pytest.skip("no Docker engine: VOIDRUNNER_TEST_DOCKER_HOST is not set")
        if host.startswith("unix://") and not Path(host.removeprefix("unix://")).exists():
            pytest.skip(f"no Docker engine at {host}")
        # A `Backend`, or pytest.skip naming what is missing (engine, OCI runtime, images).
        return conformance_backend(runtime, load_catalog(), host)

    return factory


BACKENDS: dict[str, Callable[[], Backend]] = {
    "bwrap": _bwrap,
    "docker-runc": _docker("runc"),
    "docker-runsc": _docker("runsc"),
}
_CACHE: dict[str, Backend] = {}


@pytest.fixture(scope="session", params=list(BACKENDS))
def backend(request: pytest.FixtureRequest) -> Backend:
    name: str = request.param
    if name not in _CACHE:
        try:
            _CACHE[name] = BACKENDS[name]()
        except pytest.skip.Exception as exc:
            _RAN[name] = f"skipped: {exc}"
            raise
        _RAN[name] = "ran"
    return _CACHE[name]


@pytest.fixture(scope="session", autouse=True)
async def _close_backends() -> AsyncIterator[None]:
    yield
    for item in _CACHE.values():
        await item.sandbox.close()
    for parent in _CGROUP_PARENTS:
        with contextlib.suppress(OSError):
            parent.rmdir()


@pytest.fixture
def sandbox(backend: Backend) -> Sandbox:
    return backend.sandbox


@pytest.fixture(autouse=True)
async def _nothing_left_behind(backend: Backend) -> AsyncIterator[None]:
    """Every case ends with no cgroup dirs / containers of any run left on the host."""
    assert backend.leftovers() == [], "left over before the test"
    yield
    assert await settled(backend.leftovers) == [], f"{backend.name} left things behind"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not _RAN:
        return
    terminalreporter.section("sandbox backends")
    for name in BACKENDS:
        terminalreporter.write_line(f"{name:14} {_RAN.get(name, 'not requested')}")

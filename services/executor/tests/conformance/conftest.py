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

from sandbox_testing.conformance import (
    BACKENDS_BUILT,
    BACKENDS_OUTPUT,
    Backend,
    settled,
    write_backends,
)
from voidrunner.contracts.runtimes import load_catalog
from voidrunner.devstack.pytest_plugin import WORKER_UID_STRIDE, worker_index
from voidrunner.executor.sandbox.cgroups import CgroupDriver
from voidrunner.executor.sandbox.types import Sandbox, SandboxError
from voidrunner.executor.sandbox.uid_range import DEFAULT_UID_BASE, UidRange

_RAN: dict[str, str] = {}
WARM_UID_BASE = DEFAULT_UID_BASE + 0x40000
_CGROUP_PARENTS: list[Path] = []


def _bwrap(warm_pool: int) -> Callable[[], Backend]:
    def factory() -> Backend:
        from voidrunner.executor.sandbox.bwrap import DEFAULT_SLOTS, BwrapSandbox, warm_uids

        # A cgroup parent of this session's own: the shared `voidrunner` parent also holds other
        # executors' runs on this host (and empty groups an executor killed mid-run left
        # behind), which the leftovers check would otherwise count as ours.
        subdir = f"voidrunner-suite-{os.getpid()}-{secrets.token_hex(3)}"
        cgroups = CgroupDriver.detect(subdir=subdir)
        catalog = load_catalog()
        uids = None
        if os.geteuid() == 0:
            # A warm pool has its own uids: the session keeps its warm sandboxes (and their
            # uids) to the end, and the stacks' executors of later tests lease from the default
            # range. Under pytest-xdist each worker's are apart (leases are host-wide).
            base = (WARM_UID_BASE if warm_pool else DEFAULT_UID_BASE) + (
                worker_index() * WORKER_UID_STRIDE
            )
            uids = UidRange(base, DEFAULT_SLOTS + warm_uids(catalog, warm_pool))
        try:
            sandbox = BwrapSandbox(catalog, cgroups=cgroups, warm_pool=warm_pool, uids=uids)
        except SandboxError as exc:
            pytest.skip(f"bwrap backend unavailable here: {exc}")
        parents = list(sandbox.cgroups.parents.values())
        _CGROUP_PARENTS.extend(parents)

        def leftovers() -> list[str]:
            # A warm pool's waiting sandboxes are stock, not something a run left.
            held = sandbox.warm.held_groups()
            return [
                str(p)
                for parent in parents
                if parent.is_dir()
                for p in parent.iterdir()
                if p.is_dir() and str(p) not in held
            ]

        name = "bwrap-warm" if warm_pool else "bwrap"
        return Backend(name, sandbox, leftovers, BwrapSandbox)

    return factory


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
    "bwrap": _bwrap(0),
    # Python runs in sandboxes started ahead of demand (the warm pool), every other runtime cold.
    "bwrap-warm": _bwrap(2),
    "docker-runc": _docker("runc"),
    "docker-runsc": _docker("runsc"),
}
_CACHE = BACKENDS_BUILT


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


async def warmed(backend: Backend) -> None:
    """Start the backend's warm pool (where it has one) and wait until it is full: a case's
    runs then start warm where the backend can."""
    start = getattr(backend.sandbox, "start", None)
    if start is not None:
        await start()
    wait_warm = getattr(backend.sandbox, "wait_warm", None)
    if wait_warm is not None:
        assert await wait_warm(120), "the warm pool never filled"


@pytest.fixture(autouse=True)
async def _nothing_left_behind(backend: Backend) -> AsyncIterator[None]:
    """Every case ends with no cgroup dirs / containers of any run left on the host."""
    await warmed(backend)
    assert backend.leftovers() == [], "left over before the test"
    yield
    assert await settled(backend.leftovers) == [], f"{backend.name} left things behind"


def pytest_sessionfinish(session: pytest.Session) -> None:
    # A pytest-xdist worker hands its list to the controller (the root conftest.py prints it).
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput[BACKENDS_OUTPUT] = dict(_RAN)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    write_backends(terminalreporter, _RAN)

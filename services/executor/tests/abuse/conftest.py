"""Fixtures of the sandbox abuse suite: the conformance suite's backends plus host-side canaries.

Backends come from the conformance suite's registry (../conformance/conftest.py, loaded here by
path: these test folders are not packages), so both suites run over the same list with the same
skip reasons and the same leftovers check (`_nothing_left_behind`).

Every case runs its attack through `abuse.run(...)`, which also checks, for every run:
- the executor's environment (a canary `VOIDRUNNER_DATABASE_URL` set in this process) and the host
  canary file's content never appear in the sandbox's output;
and after every case `_host_unaffected` checks that the platform still works and nothing moved:
- a follow-up hello-world run on the same backend succeeds;
- no host process carries a run's marker (where sandbox processes are host processes);
- the canary file on the host kept its content, mode and owner, and its directory gained nothing;
- this process did not leak file descriptors, and no new zombie process outlived the case.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import secrets
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import ModuleType

import pytest

from sandbox_testing.abuse import (
    NOBODY,
    SECRET_ENV,
    Abuse,
    Canary,
    HostSleeper,
    Listeners,
    reachable,
    zombies,
)
from sandbox_testing.conformance import Backend, marker, processes_with, run, settled
from voidrunner.executor.sandbox.types import TerminationReason


def _conformance_conftest() -> ModuleType:
    name = "voidrunner_executor_conformance_conftest"
    module = sys.modules.get(name)
    if module is None:
        path = Path(__file__).parent.parent / "conformance" / "conftest.py"
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return module


_conformance = _conformance_conftest()
# One registry for both suites: the same backends, skip reasons and leftovers check.
backend = _conformance.backend
sandbox = _conformance.sandbox
_close_backends = _conformance._close_backends
_nothing_left_behind = _conformance._nothing_left_behind


@pytest.fixture
def canary() -> Iterator[Canary]:
    """A secret file on the host (0600, in a 0700 directory) the sandbox must never reach."""
    directory = Path(f"/tmp/vr-abuse-canary-{secrets.token_hex(6)}")
    directory.mkdir(mode=0o700)
    path = directory / "secret"
    token = f"canary-{secrets.token_hex(16)}"
    path.write_text(token)
    path.chmod(0o600)
    try:
        yield Canary(directory, path, token)
    finally:
        path.unlink(missing_ok=True)
        for extra in directory.iterdir():
            extra.unlink()
        directory.rmdir()


@pytest.fixture
async def abuse(
    backend: Backend, canary: Canary, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Abuse]:
    """The attack runner, with the host checked before and after the case."""
    secret = f"postgres://voidrunner:{secrets.token_hex(12)}@127.0.0.1:5432/voidrunner"
    monkeypatch.setenv(SECRET_ENV, secret)
    # Counted once the backend is settled: a docker warm pool still filling (one container per
    # runtime and compile step) holds engine connections that are not this case's. The autouse
    # `_nothing_left_behind`, set up before this fixture, has waited for the pool.
    fds = len(os.listdir("/proc/self/fd"))
    zombies_before = zombies()
    attacker = Abuse(backend, canary, secret)
    yield attacker
    healthy = await run(backend.sandbox, "print('hello after abuse')")
    assert healthy.termination_reason is TerminationReason.EXIT, healthy
    assert healthy.stdout == b"hello after abuse\n", healthy
    if backend.host_visible_processes:
        for mark in attacker.marks:
            survivors = await settled(functools.partial(processes_with, mark))
            assert survivors == [], "sandbox processes survived"
    canary.assert_untouched()
    # A few fds may come and go with the engine's connection pool; a leak per run would not.
    assert len(os.listdir("/proc/self/fd")) <= fds + 4, "the executor leaked file descriptors"
    assert await settled(lambda: sorted(zombies() - zombies_before)) == [], (
        "zombies outlived the case"
    )


@pytest.fixture
def host_sleeper() -> Iterator[HostSleeper]:
    """A host process under an unprivileged host uid (nobody: each bwrap sandbox has a uid of its
    own, which the uid pool never leases while another process holds it); proven to note
    signals."""
    mark = marker()
    code = (
        "import os, signal, time\n"
        "signal.signal(signal.SIGURG, lambda *_: os.write(1, b'GOT\\n'))\n"
        "print('ready', flush=True)\n"
        "while True:\n    time.sleep(1)\n"
    )
    drop = {"user": NOBODY, "group": NOBODY, "extra_groups": []} if os.geteuid() == 0 else {}
    proc = subprocess.Popen(
        ["/usr/bin/python3", "-I", "-c", code, mark],
        stdout=subprocess.PIPE,
        cwd="/",
        **drop,  # type: ignore[call-overload]
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == b"ready\n"
        sleeper = HostSleeper(proc, mark)
        proc.send_signal(signal.SIGURG)  # positive control: the handler works
        assert sleeper.received(seconds=2.0, enough=1) == 1
        yield sleeper
    finally:
        proc.kill()
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


@pytest.fixture
def listeners() -> Iterator[Listeners]:
    """TCP listeners on 127.0.0.1 and ::1 (ephemeral ports), plus the platform's well-known ports
    on 127.0.0.1 (Postgres 5432, NATS 4222, gateway 8080, gRPC 50051): ours where the port is
    free, otherwise whatever serves it. Each target is first reached from the host (the positive
    control: "refused" from the sandbox then means something)."""
    servers: list[socket.socket] = []
    targets: list[tuple[str, int]] = []
    try:
        for family, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
            server = socket.socket(family, socket.SOCK_STREAM)
            server.bind((host, 0))
            server.listen(16)
            servers.append(server)
            targets.append((host, server.getsockname()[1]))
        for port in (5432, 4222, 8080, 50051):
            server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                server.bind(("127.0.0.1", port))
            except OSError:
                server.close()  # taken: the real service (or someone's) listens there
            else:
                server.listen(16)
                servers.append(server)
            targets.append(("127.0.0.1", port))
        reached = [t for t in targets if reachable(*t)]
        assert reached == targets, "the host itself cannot reach its own listeners"
        for server in servers:  # drain the control connections
            server.settimeout(1.0)
            conn, _ = server.accept()
            conn.close()
        yield Listeners(targets, servers)
    finally:
        for server in servers:
            server.close()

"""`make run` as a newcomer uses it: the dev runner starts everything, serves auth end to end
and the web UI, and on Ctrl-C leaves no process behind; a killed run's leftovers are cleaned by
the next start."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from voidrunner.devstack.processes import cmdline, free_port, pid_alive

pytestmark = pytest.mark.slow


def _start(data: Path, port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "VOIDRUNNER_DEV_DATA_DIR": str(data / "data"),
        "VOIDRUNNER_DEV_RUN_DIR": str(data / "run"),
        "VOIDRUNNER_GATEWAY_PORT": str(port),
        "VOIDRUNNER_AUTH_GRPC_PORT": str(free_port()),
        "VOIDRUNNER_TASKS_GRPC_PORT": str(free_port()),
        "VOIDRUNNER_SCHEDULER_HEALTH_PORT": str(free_port()),
        "VOIDRUNNER_EXECUTOR_HEALTH_PORT": str(free_port()),
        "VOIDRUNNER_LOG_FORMAT": "json",
    }
    for name in (
        "VOIDRUNNER_DATABASE_URL",
        "VOIDRUNNER_NATS_URL",
        "VOIDRUNNER_AUTH_ADDR",
        "VOIDRUNNER_TASKS_ADDR",
    ):
        env.pop(name, None)
    with (data / "out.log").open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "voidrunner.devstack", "run"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _wait_ready(base: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"dev runner exited {proc.returncode}:\n{log.read_text()[-4000:]}")
        try:
            if httpx.get(f"{base}/ready", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    raise AssertionError(f"stack not ready:\n{log.read_text()[-4000:]}")


def _stack_pids(data: Path) -> list[int]:
    files = [
        *(data / "run").glob("*.pid"),
        data / "data" / "postgres" / "pgdata" / "postmaster.pid",
        data / "data" / "nats" / "nats.pid",
    ]
    pids = []
    for path in files:
        with contextlib.suppress(FileNotFoundError, ValueError, IndexError):
            pids.append(int(path.read_text().split()[0]))
    return pids


@pytest.fixture
def workdir() -> Iterator[Path]:
    # Under /tmp (not pytest's 0700 dirs): as root, PostgreSQL runs as nobody and must enter it.
    path = Path(tempfile.mkdtemp(prefix="voidrunner-e2e-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        # A failed run must not leave its stack running for the tests that follow: whatever
        # the pid files still name is stopped before they are deleted.
        for pid in _stack_pids(path):
            if pid_alive(pid) and any(
                m in cmdline(pid) for m in ("voidrunner", "postgres", "nats")
            ):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        shutil.rmtree(path, ignore_errors=True)


def test_make_run_serves_auth_and_stops_cleanly(workdir: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = workdir / "out.log"
    first = _start(workdir, port)
    _wait_ready(base, first, log)
    pids = _stack_pids(workdir)
    assert len(pids) == 7  # five services, postgres, nats

    # A killed runner leaves its children behind; the next start must clean them up.
    os.kill(first.pid, signal.SIGKILL)
    first.wait()
    second = _start(workdir, port)
    try:
        # The orphans of the killed run still serve until the new runner stops them.
        deadline = time.monotonic() + 60
        while any(pid_alive(p) for p in pids):
            assert time.monotonic() < deadline, "leftovers of the killed run survived"
            time.sleep(0.1)
        _wait_ready(base, second, log)
        with httpx.Client(base_url=base, timeout=10) as c:
            reg = c.post(
                "/api/v1/auth/register",
                json={"email": "new@example.com", "password": "Sup3r-secret!", "name": "New"},
            )
            assert reg.status_code == 201, reg.text
            login = c.post(
                "/api/v1/auth/login", json={"email": "new@example.com", "password": "Sup3r-secret!"}
            ).json()
            auth = {"Authorization": f"Bearer {login['access_token']}"}
            assert c.get("/api/v1/auth/me", headers=auth).status_code == 200
            new = c.post("/api/v1/auth/refresh", json={"refresh_token": login["refresh_token"]})
            assert new.status_code == 200
            assert c.post("/api/v1/auth/logout", headers=auth).status_code == 200
            # The web UI as `make web` built it (every make target that runs this builds it).
            page = c.get("/tasks")
            assert page.status_code == 200, page.text
            assert '<div id="app"></div>' in page.text
        running = _stack_pids(workdir)
    finally:
        second.send_signal(signal.SIGINT)
        assert second.wait(timeout=60) == 0, log.read_text()[-4000:]
    assert not any(pid_alive(p) for p in running), "processes outlived Ctrl-C"
    # Data persists between runs; the signing key too.
    assert (workdir / "data" / "postgres" / "pgdata" / "PG_VERSION").exists()
    assert (workdir / "data" / "auth" / "signing_key.pem").exists()

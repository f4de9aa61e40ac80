"""The system under test: embedded PostgreSQL + NATS and the five services as separate processes.

Like `make run`, but each service writes its log to a file (as under a container runtime) instead
of through the dev runner's pumping threads, whose CPU would be charged to the machine we share.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

import httpx

from voidrunner.devstack.processes import free_port
from voidrunner.devstack.runner import SERVICES, DevSettings, DevStack
from voidrunner.gateway.settings import rate_limits_at

# Limits high enough that a benchmark never meets them, while the limiter still runs on every
# request (it is part of the path being measured).
BENCH_ENV = {
    "VOIDRUNNER_ENVIRONMENT": "development",
    "VOIDRUNNER_LOG_FORMAT": "json",
    "VOIDRUNNER_LOG_LEVEL": "info",
    **{f"VOIDRUNNER_{key.upper()}": str(value) for key, value in rate_limits_at(10**9).items()},
}


class Stack:
    """`with Stack(extra_env) as stack:` — everything up and ready, stopped on exit."""

    def __init__(self, extra_env: Mapping[str, str] | None = None) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="vr-bench-"))
        self.root.chmod(0o755)  # as root, PostgreSQL runs as nobody and must enter it
        self.gateway_port = free_port()
        self.base_url = f"http://127.0.0.1:{self.gateway_port}"
        self._extra = dict(extra_env or {})
        self._dev = DevStack(
            DevSettings(
                dev_data_dir=self.root / "data",
                dev_run_dir=self.root / "run",
                database_url="",
                nats_url="",
                gateway_port=self.gateway_port,
                auth_grpc_port=free_port(),
                tasks_grpc_port=free_port(),
            ),
            counting=True,
        )
        self.pids: dict[str, int] = {}
        self._procs: list[subprocess.Popen[bytes]] = []
        self.database_url = ""

    def __enter__(self) -> Stack:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _exc: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        database_url, nats_url = self._dev.start_infrastructure()
        self.database_url = database_url
        env = self._dev.service_env(database_url, nats_url)
        env.update(BENCH_ENV)
        env["VOIDRUNNER_AUTH_GRPC_PORT"] = str(self._dev.settings.auth_grpc_port)
        env["VOIDRUNNER_TASKS_GRPC_PORT"] = str(self._dev.settings.tasks_grpc_port)
        env["VOIDRUNNER_SCHEDULER_HEALTH_PORT"] = str(free_port())
        env["VOIDRUNNER_EXECUTOR_HEALTH_PORT"] = str(free_port())
        env.update(self._extra)
        # As `make run` does: each service's tables owned by its own database role.
        self._dev.migrate(env)
        logs = self.root / "logs"
        logs.mkdir()
        for name in SERVICES:
            with (logs / f"{name}.log").open("wb") as out:
                proc = subprocess.Popen(
                    [sys.executable, "-m", f"voidrunner.{name}"],
                    env=self._dev.env_of(name, env),
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            self._procs.append(proc)
            self.pids[name] = proc.pid
        self._wait_ready()

    @property
    def nats_monitor_url(self) -> str:
        """The embedded NATS server's monitoring endpoint (loopback)."""
        return self._dev.nats_monitor_url

    def _wait_ready(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for proc in self._procs:
                if proc.poll() is not None:
                    raise RuntimeError(f"a service exited: {proc.args!r}; logs in {self.root}/logs")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.base_url}/ready", timeout=1).status_code == 200:
                    return
            time.sleep(0.2)
        raise RuntimeError(f"stack not ready after {timeout} s; logs in {self.root}/logs")

    @property
    def tasks_grpc_port(self) -> int:
        """The tasks service's gRPC port."""
        return self._dev.settings.tasks_grpc_port

    def infra_pids(self) -> dict[str, int]:
        """The embedded PostgreSQL (postmaster) and NATS server processes."""
        found = {}
        for name, path in (
            ("postgres", self.root / "data" / "postgres" / "pgdata" / "postmaster.pid"),
            ("nats", self.root / "data" / "nats" / "nats.pid"),
        ):
            with contextlib.suppress(OSError, ValueError, IndexError):
                found[name] = int(path.read_text().split()[0])
        return found

    def log_tail(self, name: str, lines: int = 20) -> str:
        path = self.root / "logs" / f"{name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        for proc in reversed(self._procs):
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        for proc in self._procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        self._procs.clear()
        self._dev.stop()
        shutil.rmtree(self.root, ignore_errors=True)

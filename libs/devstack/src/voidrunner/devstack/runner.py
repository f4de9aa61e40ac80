"""`make run`: embedded PostgreSQL + NATS (unless external URLs are set), migrations, services."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import threading
import time
import urllib.request
from pathlib import Path

import asyncpg
from dotenv import dotenv_values
from pydantic_settings import BaseSettings, SettingsConfigDict

from voidrunner.devstack.credentials import Credentials
from voidrunner.devstack.deploy_secrets import kept_sealing_key
from voidrunner.devstack.nats import EmbeddedNats, NatsConfig
from voidrunner.devstack.nats_config import render
from voidrunner.devstack.postgres import EmbeddedPostgres, PostgresConfig
from voidrunner.devstack.processes import free_port
from voidrunner.devstack.supervisor import Supervisor

# Start order: backends first, the gateway last (it waits for the auth service's keys anyway).
SERVICES = ["auth", "tasks", "scheduler", "executor", "gateway"]
MIGRATING = ["auth", "tasks"]
DEV_DATABASE = "voidrunner"


class DevSettings(BaseSettings):
    """What the dev runner itself reads; everything else is passed through to the services."""

    model_config = SettingsConfigDict(env_prefix="VOIDRUNNER_", env_file=".env", extra="ignore")

    dev_data_dir: Path = Path(".data")
    dev_run_dir: Path = Path(".run")
    database_url: str = ""
    nats_url: str = ""
    gateway_port: int = 8080
    auth_grpc_port: int = 50051
    tasks_grpc_port: int = 50052
    public_host: str = "localhost"
    # Each service's /metrics on 127.0.0.1, from this port up in SERVICES order.
    metrics_base_port: int = 9100


class DevStack:
    """The embedded servers and the supervised services of one `make run`."""

    def __init__(self, settings: DevSettings, *, counting: bool = False) -> None:
        """`counting` (the benchmark): the embedded servers count their work, PostgreSQL its
        statements (pg_stat_statements) and NATS its messages and JetStream API calls (its
        monitoring endpoint on loopback, at `nats_monitor_url`)."""
        self.settings = settings
        self._counting = counting
        self.nats_monitor_url = ""
        self.data_dir = settings.dev_data_dir.resolve()
        self.supervisor = Supervisor(settings.dev_run_dir.resolve())
        self.postgres: EmbeddedPostgres | None = None
        self.nats: EmbeddedNats | None = None
        # Generated on first start, kept across restarts (README.md, "Security").
        self.credentials = Credentials.ensure(self.data_dir / "secrets")
        # Whether the servers are the embedded ones: set by start_infrastructure, or by attach
        # for a command run beside a running stack.
        self.embedded_postgres = False
        self.embedded_nats = False
        self._state_file = settings.dev_run_dir.resolve() / "stack.json"

    def start_infrastructure(self) -> tuple[str, str]:
        """Start what is not external; returns (database_url, nats_url)."""
        database_url = self.settings.database_url
        if not database_url:
            preload = ("pg_stat_statements",) if self._counting else ()
            self.postgres = EmbeddedPostgres(
                PostgresConfig(self.data_dir / "postgres", preload=preload)
            )
            self.postgres.start()
            asyncio.run(_ensure_database(self.postgres.dsn, DEV_DATABASE))
            database_url = self.postgres.dsn_for(DEV_DATABASE)
            if self._counting:
                asyncio.run(
                    _execute(database_url, "CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
                )
            self.embedded_postgres = True
            self.supervisor.say(f"embedded PostgreSQL on 127.0.0.1:{self.postgres.port}")
        nats_url = self.settings.nats_url
        if not nats_url:
            extra: dict[str, object] = {}
            if self._counting:
                port = free_port()
                extra["http"] = f"127.0.0.1:{port}"
                self.nats_monitor_url = f"http://127.0.0.1:{port}"
            # One user per service, no anonymous access.
            config = render(self.credentials, extra=extra)
            self.nats = EmbeddedNats(NatsConfig(self.data_dir / "nats", config_text=config))
            nats_url = self.nats.start()
            self.embedded_nats = True
            self.supervisor.say(f"embedded NATS (JetStream) on {nats_url}")
        return database_url, nats_url

    def publish_state(self, database_url: str, nats_url: str) -> None:
        """Say where the running stack's servers are, for commands run beside it (`make admin`).

        The file holds the database's superuser URL (embedded, loopback only), so only the
        owner may read it; it is removed when the stack stops."""
        state = {
            "database_url": database_url,
            "nats_url": nats_url,
            "embedded_postgres": self.embedded_postgres,
            "embedded_nats": self.embedded_nats,
        }
        self._state_file.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self._state_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(state, out)

    def attach(self) -> tuple[str, str] | None:
        """(database_url, nats_url) of the `make run` running now, or None when none is."""
        try:
            state = json.loads(self._state_file.read_text())
        except FileNotFoundError:
            return None
        self.embedded_postgres = bool(state["embedded_postgres"])
        self.embedded_nats = bool(state["embedded_nats"])
        return str(state["database_url"]), str(state["nats_url"])

    def service_env(self, database_url: str, nats_url: str) -> dict[str, str]:
        """The environment every service gets: ours on top of the caller's."""
        # .env fills in what the caller's environment does not set (as for DevSettings).
        dotenv = {k: v for k, v in dotenv_values(".env").items() if v is not None}
        env = {**dotenv, **os.environ}
        env.setdefault("VOIDRUNNER_ENVIRONMENT", "development")
        env.setdefault("VOIDRUNNER_LOG_FORMAT", "console")
        env["VOIDRUNNER_DATABASE_URL"] = database_url
        env["VOIDRUNNER_NATS_URL"] = nats_url
        env.setdefault("VOIDRUNNER_AUTH_KEY_FILE", str(self.data_dir / "auth" / "signing_key.pem"))
        env["VOIDRUNNER_GATEWAY_PORT"] = str(self.settings.gateway_port)
        env.setdefault("VOIDRUNNER_AUTH_ADDR", f"127.0.0.1:{self.settings.auth_grpc_port}")
        env.setdefault("VOIDRUNNER_TASKS_ADDR", f"127.0.0.1:{self.settings.tasks_grpc_port}")
        # The web UI as `make web` built it (the gateway serves the API alone without it).
        env.setdefault("VOIDRUNNER_WEB_DIR", str(Path("web/dist").resolve()))
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def env_of(self, service: str, env: dict[str, str]) -> dict[str, str]:
        """`env` plus what makes the process `service`: its keys and NATS user (for the embedded
        NATS only: an external server has users of its own)."""
        own = self.credentials.environment(service)
        own["VOIDRUNNER_METRICS_HOST"] = "127.0.0.1"
        own["VOIDRUNNER_METRICS_PORT"] = str(self.metrics_port(service))
        if not self.embedded_nats:
            own.pop("VOIDRUNNER_NATS_SEED_FILE")
        if service == "tasks" and not env.get("VOIDRUNNER_WEBHOOK_SECRET_KEY"):
            own["VOIDRUNNER_WEBHOOK_SECRET_KEY"] = kept_sealing_key(
                self.data_dir / "tasks" / "webhook_secret_key"
            )
        if self.embedded_postgres and service in MIGRATING:
            # The embedded database: each table owner as its own role (an external one's URL
            # is the operator's to choose).
            own["VOIDRUNNER_DATABASE_URL"] = self.credentials.database_url(
                env["VOIDRUNNER_DATABASE_URL"], service
            )
        return {**env, **own}

    def metrics_port(self, service: str) -> int:
        """The loopback port of `service`'s /metrics."""
        return self.settings.metrics_base_port + SERVICES.index(service)

    def migrate(self, env: dict[str, str]) -> None:
        """Apply every service's migrations before any service serves."""
        import subprocess
        import sys

        for name in MIGRATING:
            own = self.env_of(name, env)
            if self.embedded_postgres:
                own["VOIDRUNNER_DATABASE_ADMIN_URL"] = env["VOIDRUNNER_DATABASE_URL"]
            subprocess.run(
                [sys.executable, "-m", f"voidrunner.{name}", "migrate", "up"], env=own, check=True
            )

    def stop(self) -> None:
        """Stop services, then NATS, then PostgreSQL."""
        self._state_file.unlink(missing_ok=True)
        self.supervisor.stop_all()
        if self.nats is not None:
            self.nats.stop()
        if self.postgres is not None:
            self.postgres.stop()


async def _execute(dsn: str, statement: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


async def _ensure_database(dsn: str, name: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


def _wait_healthy(url: str, timeout: float, stop: threading.Event) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not stop.is_set():
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:  # noqa: S310 - our own loopback URL  # nosec B310
                if resp.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.2)
    return False


def run(reload: bool = False) -> int:
    """Run the whole stack until Ctrl-C (or a service dies). Returns the exit code."""
    settings = DevSettings()
    stack = DevStack(settings)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    code = 0
    try:
        left = stack.supervisor.clean_leftovers(SERVICES)
        if left:
            stack.supervisor.say(f"stopped leftovers of an earlier run: {', '.join(left)}")
        database_url, nats_url = stack.start_infrastructure()
        env = stack.service_env(database_url, nats_url)
        stack.migrate(env)
        stack.publish_state(database_url, nats_url)
        for name in SERVICES:
            stack.supervisor.start(name, f"voidrunner.{name}", stack.env_of(name, env))
        base = f"http://{settings.public_host}:{settings.gateway_port}"
        if _wait_healthy(f"http://127.0.0.1:{settings.gateway_port}/health", 60, stop):
            stack.supervisor.say(
                f"VoidRunner is up: {base}  (web UI; API docs: {base}/docs)  Ctrl-C stops"
            )
            ports = ", ".join(f"{n} :{stack.metrics_port(n)}" for n in SERVICES)
            stack.supervisor.say(f"metrics on 127.0.0.1 (/metrics): {ports}")
        watcher = _start_reloader(stack, env, stop) if reload else None
        while not stop.wait(0.5):
            dead = stack.supervisor.exited()
            if dead and not reload:
                names = ", ".join(
                    f"{d.name} (exit {d.proc.returncode if d.proc else '?'})" for d in dead
                )
                stack.supervisor.say(f"service exited: {names}; stopping the stack")
                code = 1
                break
        if watcher is not None:
            watcher.join(timeout=1)
    finally:
        stack.supervisor.say("stopping…")
        stack.stop()
    return code


def _start_reloader(
    stack: DevStack, env: dict[str, str], stop: threading.Event
) -> threading.Thread:
    """Restart every service when Python files under libs/ or services/ change."""
    from watchfiles import PythonFilter, watch

    roots = [p for p in (Path("libs"), Path("services")) if p.exists()]

    def loop() -> None:
        for _changes in watch(*roots, watch_filter=PythonFilter(), stop_event=stop):
            stack.supervisor.say("code changed; restarting services")
            stack.supervisor.stop_all(grace=5)
            for name in SERVICES:
                stack.supervisor.start(name, f"voidrunner.{name}", stack.env_of(name, env))

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    return thread

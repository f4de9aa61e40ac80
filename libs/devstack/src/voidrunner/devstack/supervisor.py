"""Runs the service processes of a dev stack with prefixed, coloured output, and stops them all."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from voidrunner.devstack.processes import kill_leftover, pid_alive, terminate

COLOURS = ["\033[36m", "\033[35m", "\033[33m", "\033[32m", "\033[34m", "\033[31m"]
RESET = "\033[0m"


@dataclass
class ServiceProcess:
    name: str
    module: str
    env: Mapping[str, str]
    proc: subprocess.Popen[bytes] | None = None
    pump: threading.Thread | None = field(default=None, repr=False)


class Supervisor:
    """Starts `python -m <module>` per service in its own session, records pids in `run_dir`."""

    def __init__(self, run_dir: Path, out: IO[str] = sys.stdout) -> None:
        self.run_dir = run_dir
        self.out = out
        self.services: list[ServiceProcess] = []
        self._lock = threading.Lock()
        self._colour = out.isatty()

    def clean_leftovers(self, names: list[str]) -> list[str]:
        """Stop services that a killed earlier run left behind (matched by pid file and cmdline)."""
        stopped = []
        for name in names:
            if kill_leftover(self.run_dir / f"{name}.pid", f"voidrunner.{name}"):
                stopped.append(name)
        return stopped

    def start(self, name: str, module: str, env: Mapping[str, str]) -> ServiceProcess:
        """Start one service; its output is copied line by line with a prefix."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        svc = ServiceProcess(name=name, module=module, env=env)
        svc.proc = subprocess.Popen(
            [sys.executable, "-m", module],
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        (self.run_dir / f"{name}.pid").write_text(f"{svc.proc.pid}\n")
        prefix = self._prefix(name, len(self.services))
        svc.pump = threading.Thread(target=self._pump, args=(svc.proc.stdout, prefix), daemon=True)
        svc.pump.start()
        self.services.append(svc)
        return svc

    def _prefix(self, name: str, index: int) -> str:
        label = f"{name:>9} |"
        if not self._colour:
            return label + " "
        return f"{COLOURS[index % len(COLOURS)]}{label}{RESET} "

    def _pump(self, stream: IO[bytes] | None, prefix: str) -> None:
        if stream is None:
            return
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\n")
            with self._lock:
                self.out.write(prefix + line + "\n")
                self.out.flush()

    def say(self, text: str) -> None:
        """Print a supervisor line between service output."""
        with self._lock:
            self.out.write(self._prefix("devstack", 5) + text + "\n")
            self.out.flush()

    def exited(self) -> list[ServiceProcess]:
        """Services whose process has ended."""
        return [s for s in self.services if s.proc is not None and s.proc.poll() is not None]

    def stop_all(self, grace: float = 10.0) -> None:
        """SIGTERM every service (newest first), SIGKILL what outlives `grace`, remove pid files."""
        for svc in reversed(self.services):
            if svc.proc is not None and svc.proc.poll() is None:
                terminate(svc.proc.pid, grace=grace, group=True)
        for svc in self.services:
            if svc.proc is not None:
                try:
                    svc.proc.wait(timeout=grace)
                except subprocess.TimeoutExpired:
                    svc.proc.kill()
                    svc.proc.wait()
                # A service's own children (e.g. sandboxes) share its session: make sure.
                if pid_alive(svc.proc.pid):
                    os.killpg(svc.proc.pid, 9)
            if svc.pump is not None:
                svc.pump.join(timeout=2)
            (self.run_dir / f"{svc.name}.pid").unlink(missing_ok=True)
        self.services.clear()

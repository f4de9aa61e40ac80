"""What the client's tests share: the `voidrunner` console script as a subprocess, new users."""

from __future__ import annotations

import asyncio
import os
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx

PASSWORD = "Sup3r-secret!"
CLI = Path(sys.executable).with_name("voidrunner")


@dataclass
class Result:
    """How a CLI run went: its exit code, its output, and when each stdout line arrived."""

    code: int
    stdout: bytes
    stderr: bytes
    lines: list[tuple[float, bytes]] = field(default_factory=list)
    ended: float = 0.0

    @property
    def err(self) -> str:
        return self.stderr.decode(errors="replace")


@dataclass
class Cli:
    """The `voidrunner` console script, run as a subprocess with its own config dir."""

    url: str
    config_home: Path
    token: str | None = None

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("VOIDRUNNER_")}
        env.update(XDG_CONFIG_HOME=str(self.config_home), VOIDRUNNER_URL=self.url)
        if self.token:
            env["VOIDRUNNER_TOKEN"] = self.token
        return {**env, **extra}

    async def __call__(
        self, *args: str, stdin: bytes | None = None, cwd: Path | None = None, **env: str
    ) -> Result:
        started = time.monotonic()
        proc = await asyncio.create_subprocess_exec(
            str(CLI),
            *args,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=self.env(**env),
            cwd=cwd,
        )
        assert proc.stdin is not None
        assert proc.stdout is not None
        assert proc.stderr is not None
        proc.stdin.write(stdin or b"")
        proc.stdin.close()
        lines: list[tuple[float, bytes]] = []

        async def read_lines() -> None:
            assert proc.stdout
            async for line in proc.stdout:
                lines.append((time.monotonic() - started, line))

        _, stderr = await asyncio.wait_for(
            asyncio.gather(read_lines(), proc.stderr.read()), timeout=60
        )
        code = await proc.wait()
        return Result(
            code, b"".join(line for _, line in lines), stderr, lines, time.monotonic() - started
        )


async def register(client: httpx.AsyncClient, name: str = "Ada") -> tuple[str, str]:
    """A new user through the API: (email, access token)."""
    email = f"{name.lower()}-{uuid.uuid4().hex[:8]}@example.com"
    resp = await client.post(
        "/api/v1/auth/register", json={"email": email, "password": PASSWORD, "name": name}
    )
    assert resp.status_code == 201, resp.text
    return email, str(resp.json()["access_token"])

"""The sandbox contract: what a backend is given, what it streams, and what it reports.

Every backend (bwrap, docker) implements `Sandbox` and passes the same conformance suite.

    SandboxError                      the sandbox itself failed (not the user's code)
    └── RuntimeUnavailable            the runtime is unknown or its toolchain is missing here
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol


class TerminationReason(enum.StrEnum):
    """Why a run ended. Values are the public API's `termination_reason` texts."""

    EXIT = "exit"
    TIMEOUT = "timeout"
    MEMORY_LIMIT = "memory_limit"
    OUTPUT_LIMIT = "output_limit"
    CANCELLED = "cancelled"
    SANDBOX_ERROR = "sandbox_error"


class StreamName(enum.StrEnum):
    STDOUT = "stdout"
    STDERR = "stderr"


class SandboxError(Exception):
    """The sandbox could not run the code; `retryable` says whether another attempt may succeed."""

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


class RuntimeUnavailable(SandboxError):
    """The requested runtime is unknown or its toolchain is missing on this host."""


@dataclass(frozen=True, slots=True)
class Limits:
    """Resource limits for one run, already capped by operator settings."""

    timeout_seconds: float = 10.0
    memory_bytes: int = 256 * 1024 * 1024
    cpu: float = 1.0
    max_output_bytes: int = 1024 * 1024
    pids: int = 64
    tmp_bytes: int = 64 * 1024 * 1024
    max_open_files: int = 256


@dataclass(frozen=True, slots=True)
class RunRequest:
    """What to run: the runtime name (e.g. "python"), the source, its stdin and environment."""

    runtime: str
    source: str
    stdin: bytes = b""
    env: dict[str, str] = field(default_factory=dict)
    limits: Limits = field(default_factory=Limits)
    # Used for naming cgroups/containers and in logs; backends must not trust it for paths.
    run_id: str = ""


@dataclass(frozen=True, slots=True)
class OutputChunk:
    """A piece of output as it was produced. Only the kept (non-truncated) bytes are streamed."""

    stream: StreamName
    data: bytes


@dataclass(frozen=True, slots=True)
class RunResult:
    """Exactly what happened. `exit_code` is None when the process did not exit by itself."""

    termination_reason: TerminationReason
    exit_code: int | None
    stdout: bytes
    stderr: bytes
    stdout_truncated: bool
    stderr_truncated: bool
    wall_time_ms: int
    cpu_time_ms: int
    peak_memory_bytes: int
    detail: str = ""


OnOutput = Callable[[OutputChunk], Awaitable[None]]


class CancelToken(Protocol):
    """Anything with an awaitable `wait()` returning when the run must stop (an asyncio.Event)."""

    async def wait(self) -> object: ...

    def is_set(self) -> bool: ...


class Sandbox(Protocol):
    """A backend that runs untrusted code in isolation."""

    name: str

    async def run(
        self,
        request: RunRequest,
        *,
        on_output: OnOutput | None = None,
        cancel: CancelToken | None = None,
    ) -> RunResult:
        """Run `request` to completion, streaming output through `on_output` as it is produced.

        Raises RuntimeUnavailable for an unknown or missing runtime, SandboxError when the
        sandbox itself fails before the code could run. Everything the run started (processes,
        cgroups, containers, files) is gone when this returns or raises, cancellation included.
        """
        ...

    def runtimes(self) -> list[RuntimeInfo]:
        """The runtimes this backend offers, with availability on this host."""
        ...

    async def close(self) -> None:
        """Release backend-wide resources (clients, warm pools)."""
        ...


@dataclass(frozen=True, slots=True)
class RuntimeInfo:
    """A runtime as this backend sees it."""

    name: str
    version: str
    available: bool
    reason: str = ""

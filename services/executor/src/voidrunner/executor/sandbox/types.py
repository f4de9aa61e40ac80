"""The sandbox contract: what a backend is given, what it streams, and what it reports.

Every backend (bwrap, docker) implements `Sandbox` and passes the same conformance suite.

    SandboxError                      the sandbox itself failed (not the user's code)
    └── RuntimeUnavailable            the runtime is unknown or its toolchain is missing here
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from voidrunner.contracts.execution import StreamName, TerminationReason
from voidrunner.contracts.runtimes import Limits, RuntimeCatalog, RuntimeSpec, UnknownRuntime

if TYPE_CHECKING:
    from voidrunner.executor.sandbox.build import Prepared

__all__ = [
    "CancelToken",
    "Limits",
    "OnOutput",
    "OutputChunk",
    "RunRequest",
    "RunResult",
    "RuntimeInfo",
    "RuntimeUnavailable",
    "Sandbox",
    "SandboxError",
    "SourceFile",
    "StreamName",
    "TerminationReason",
    "catalog_spec",
]


class SandboxError(Exception):
    """The sandbox could not run the code; `retryable` says whether another attempt may succeed."""

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


class RuntimeUnavailable(SandboxError):
    """The requested runtime is unknown or its toolchain is missing on this host."""


def catalog_spec(catalog: RuntimeCatalog, name: str) -> RuntimeSpec:
    """The runtime `name` of `catalog`; RuntimeUnavailable when it has none of that name."""
    try:
        return catalog.get(name)
    except UnknownRuntime as exc:
        raise RuntimeUnavailable(str(exc)) from exc


@dataclass(frozen=True, slots=True)
class SourceFile:
    """A file the run's work dir starts with (`path` follows contracts.files)."""

    path: str
    data: bytes


@dataclass(frozen=True, slots=True)
class RunRequest:
    """What to run: the runtime name (e.g. "python"), its files, stdin, arguments, environment.

    `source` is the one-file form (it becomes the runtime's source file); `files` with an
    `entrypoint` (default: the first file) the many-file one.
    """

    runtime: str
    source: str = ""
    stdin: bytes = b""
    env: dict[str, str] = field(default_factory=dict)
    limits: Limits = field(default_factory=Limits)
    # Used for naming cgroups/containers and in logs; backends must not trust it for paths.
    run_id: str = ""
    files: tuple[SourceFile, ...] = ()
    entrypoint: str = ""
    args: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class OutputChunk:
    """A piece of output as it was produced. Only the kept (non-truncated) bytes are streamed."""

    stream: StreamName
    data: bytes


@dataclass(frozen=True, slots=True)
class RunResult:
    """Exactly what happened, in the public API's names.

    `return_code` is None when the program did not exit by itself (then `exit_signal` names the
    signal that ended it, when one did). Time, CPU and memory describe the run step alone; a
    compiled runtime's build is reported in `compile_output` and `compile_time_ms`.
    """

    termination_reason: TerminationReason
    return_code: int | None
    stdout: bytes
    stderr: bytes
    stdout_truncated: bool
    stderr_truncated: bool
    execution_time_ms: int
    cpu_time_ms: int
    memory_usage_bytes: int
    termination_detail: str = ""
    exit_signal: str | None = None
    compile_output: bytes = b""
    compile_time_ms: int | None = None


OnOutput = Callable[[OutputChunk], Awaitable[None]]


class CancelToken(Protocol):
    """Anything with an awaitable `wait()` returning when the run must stop (an asyncio.Event)."""

    async def wait(self) -> object: ...

    def is_set(self) -> bool: ...


class Sandbox(Protocol):
    """A backend that runs untrusted code in isolation.

    `run` is `prepare` then one `execute`; a run with test cases prepares (compiles) once and
    executes once per case, each in a fresh sandbox.
    """

    name: str

    async def prepare(self, request: RunRequest, *, cancel: CancelToken | None = None) -> Prepared:
        """Check the runtime and files and, for a compiled runtime, build once.

        A failed build is not an exception: `Prepared.failed` holds the run's result.
        Raises RuntimeUnavailable and SandboxError as `run` does.
        """
        ...

    async def execute(
        self,
        prepared: Prepared,
        *,
        stdin: bytes,
        args: Sequence[str],
        on_output: OnOutput | None = None,
        cancel: CancelToken | None = None,
        limits: Limits | None = None,
    ) -> RunResult:
        """One run of a prepared program in a fresh sandbox (with `limits` if given)."""
        ...

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

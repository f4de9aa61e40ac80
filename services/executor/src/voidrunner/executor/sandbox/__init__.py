"""Sandboxes that run untrusted code: one contract (`types`), several backends."""

from voidrunner.executor.sandbox.types import (
    CancelToken,
    Limits,
    OnOutput,
    OutputChunk,
    RunRequest,
    RunResult,
    RuntimeInfo,
    RuntimeUnavailable,
    Sandbox,
    SandboxError,
    StreamName,
    TerminationReason,
)

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
    "StreamName",
    "TerminationReason",
]

"""What a task or a one-shot run defines to run: checked, resolved and filled with defaults.

    run = define(patch, policy)          # FieldErrors naming every broken rule
    run.spec.name                        # the runtime catalogue entry that runs it

The runtime is resolved from (script_type, version) once, and stored resolved (script_type is
the language, version the catalogue's), so what a task gets does not move when the catalogue's
defaults do; limits it leaves out take its runtime's defaults.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from voidrunner.contracts.runtimes import RuntimeSpec
from voidrunner.proto.jobs.v1 import jobs_pb2
from voidrunner.tasks.errors import FieldErrors, Violation
from voidrunner.tasks.policy import RuntimePolicy
from voidrunner.tasks.validation import TaskPatch, check_patch

__all__ = ["RunDefinition", "define", "extra_inputs", "job_limits"]

MIB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class RunDefinition:
    """A run's definition, valid and complete."""

    spec: RuntimeSpec
    script_content: str | None
    stdin: bytes | None
    env: dict[str, str]
    timeout_seconds: int
    memory_limit_mb: int
    cpu_limit: float
    max_output_bytes: int
    # Files, entrypoint, arguments, test cases (source and stdin are the fields above).
    inputs: jobs_pb2.RunInputs

    @property
    def script_type(self) -> str:
        return self.spec.language

    @property
    def version(self) -> str:
        return self.spec.version


def _or(value: Any, default: Any) -> Any:
    return default if value is None else value


def extra_inputs(patch: TaskPatch) -> jobs_pb2.RunInputs:
    """The patch's files, entrypoint, arguments and test cases, as stored."""
    return jobs_pb2.RunInputs(
        files=patch.files or [],
        entrypoint=patch.entrypoint or "",
        args=patch.args or [],
        test_cases=patch.test_cases or [],
        stop_on_first_failure=bool(patch.stop_on_first_failure),
    )


def define(
    patch: TaskPatch, policy: RuntimePolicy, *, required: tuple[str, ...] = ()
) -> RunDefinition:
    """The run `patch` defines; FieldErrors listing every missing field and broken rule."""
    missing = [
        Violation(name, "required", f"{name} is required")
        for name in ("script_type", *required)
        if getattr(patch, name) is None
    ]
    if patch.script_content is None and patch.files is None:
        missing.append(
            Violation("script_content", "required", "script_content is required (or files)")
        )
    try:
        check_patch(patch, policy.limits)
    except FieldErrors as exc:
        missing.extend(exc.violations)
    if missing:
        raise FieldErrors(missing)
    assert patch.script_type is not None
    spec = policy.runtime(patch.script_type, patch.version)
    d = policy.defaults(spec)
    return RunDefinition(
        spec=spec,
        script_content=patch.script_content,
        stdin=patch.stdin,
        env={} if patch.env is None else patch.env,
        timeout_seconds=_or(patch.timeout_seconds, d.timeout_seconds),
        memory_limit_mb=_or(patch.memory_limit_mb, d.memory_limit_mb),
        cpu_limit=_or(patch.cpu_limit, d.cpu_limit),
        max_output_bytes=_or(patch.max_output_bytes, d.max_output_bytes),
        inputs=extra_inputs(patch),
    )


def job_limits(
    timeout_seconds: int, memory_limit_mb: int, cpu_limit: float, max_output_bytes: int
) -> tuple[jobs_pb2.Limits, dict[str, Any]]:
    """A run's limits as its job carries them, and as its execution records them."""
    return (
        jobs_pb2.Limits(
            timeout_seconds=timeout_seconds,
            memory_bytes=memory_limit_mb * MIB,
            cpu=cpu_limit,
            max_output_bytes=max_output_bytes,
        ),
        {
            "timeout_seconds": timeout_seconds,
            "memory_limit_mb": memory_limit_mb,
            "cpu_limit": cpu_limit,
            "max_output_bytes": max_output_bytes,
        },
    )

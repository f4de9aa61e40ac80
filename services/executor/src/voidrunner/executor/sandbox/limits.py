"""Limits for one run: what the task asks, filled from runtime defaults, capped by the operator.

    limits = resolve_limits(TaskLimits(timeout_seconds=5), defaults=spec.default_limits, caps=caps)

Every field is capped independently (`min(asked, cap)`); a task can lower any limit but never raise
one above the operator's cap. Non-positive values are refused with `InvalidLimits` (a ValueError).
Backends call `cap_limits(request.limits, caps)` again as a safety net, so a caller that forgot to
resolve cannot lift a cap.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from voidrunner.executor.sandbox.types import Limits

__all__ = ["InvalidLimits", "TaskLimits", "cap_limits", "resolve_limits"]


class InvalidLimits(ValueError):
    """A limit was zero, negative or not a number."""


@dataclass(frozen=True, slots=True)
class TaskLimits:
    """Limits as a task states them: a field left out (None) takes the runtime default."""

    timeout_seconds: float | None = None
    memory_bytes: int | None = None
    cpu: float | None = None
    max_output_bytes: int | None = None
    pids: int | None = None
    tmp_bytes: int | None = None
    max_open_files: int | None = None


def _check(name: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise InvalidLimits(f"limit {name} must be a positive number, got {value!r}")


def cap_limits(requested: Limits, caps: Limits) -> Limits:
    """`requested` with every field lowered to at most the operator's cap."""
    values: dict[str, float] = {}
    for f in fields(Limits):
        asked, cap = getattr(requested, f.name), getattr(caps, f.name)
        _check(f.name, asked)
        _check(f"cap {f.name}", cap)
        values[f.name] = min(asked, cap)
    return Limits(**values)  # type: ignore[arg-type]


def resolve_limits(task: TaskLimits | None, *, defaults: Limits, caps: Limits) -> Limits:
    """The task's limits, missing fields from the runtime `defaults`, all capped by `caps`."""
    merged: dict[str, float] = {}
    for f in fields(Limits):
        asked = getattr(task, f.name) if task is not None else None
        merged[f.name] = getattr(defaults, f.name) if asked is None else asked
    return cap_limits(Limits(**merged), caps)  # type: ignore[arg-type]

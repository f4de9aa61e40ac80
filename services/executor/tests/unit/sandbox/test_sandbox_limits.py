"""Limit resolution: task values, runtime defaults, operator caps."""

from __future__ import annotations

import pytest

from voidrunner.executor.sandbox.limits import InvalidLimits, TaskLimits, cap_limits, resolve_limits
from voidrunner.executor.sandbox.types import Limits

CAPS = Limits(
    timeout_seconds=30,
    memory_bytes=512,
    cpu=1.0,
    max_output_bytes=100,
    pids=50,
    tmp_bytes=1000,
    max_open_files=64,
)
DEFAULTS = Limits(
    timeout_seconds=10,
    memory_bytes=256,
    cpu=0.5,
    max_output_bytes=50,
    pids=20,
    tmp_bytes=500,
    max_open_files=32,
)


def test_task_values_win_below_the_caps() -> None:
    limits = resolve_limits(TaskLimits(timeout_seconds=2, pids=5), defaults=DEFAULTS, caps=CAPS)
    assert limits.timeout_seconds == 2
    assert limits.pids == 5
    assert limits.memory_bytes == DEFAULTS.memory_bytes


def test_every_field_is_capped() -> None:
    huge = TaskLimits(
        timeout_seconds=1e9,
        memory_bytes=10**12,
        cpu=64,
        max_output_bytes=10**12,
        pids=10**6,
        tmp_bytes=10**12,
        max_open_files=10**6,
    )
    assert resolve_limits(huge, defaults=DEFAULTS, caps=CAPS) == CAPS


def test_no_task_limits_means_runtime_defaults() -> None:
    assert resolve_limits(None, defaults=DEFAULTS, caps=CAPS) == DEFAULTS


def test_defaults_above_the_caps_are_capped_too() -> None:
    assert cap_limits(Limits(pids=10_000), CAPS).pids == CAPS.pids


@pytest.mark.parametrize("bad", [0, -1, float("nan")])
def test_non_positive_limits_are_refused(bad: float) -> None:
    with pytest.raises(InvalidLimits, match="timeout_seconds"):
        resolve_limits(TaskLimits(timeout_seconds=bad), defaults=DEFAULTS, caps=CAPS)


def test_a_bad_cap_is_refused() -> None:
    with pytest.raises(InvalidLimits, match="cap pids"):
        cap_limits(DEFAULTS, Limits(pids=0))

"""The benchmark's BwrapSandbox figures count real successes: a hello-world run through the
backend, judged by the same rule the timed loops use."""

from __future__ import annotations

import pytest

from bench import _load
from voidrunner.executor.sandbox.bwrap import BwrapSandbox

pytestmark = pytest.mark.sandbox


async def test_successful_hello_world_runs_count_as_successes() -> None:
    sample = await _load.sandbox_sequential(BwrapSandbox(), 2)
    assert (len(sample.latencies_ms), sample.errors) == (2, 0)

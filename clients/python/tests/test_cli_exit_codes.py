"""How `voidrunner run` turns a finished execution into its exit code and stderr lines (the
endings the real-stack tests do not reach cheaply: a compile error, a sandbox error)."""

from __future__ import annotations

import io
import uuid

from rich.console import Console

from voidrunner.client import Execution
from voidrunner.client.cli import runner


def ended(**fields: object) -> Execution:
    return Execution.model_validate(
        {
            "id": str(uuid.uuid4()),
            "status": "failed",
            "created_at": "2026-12-02T10:00:00Z",
            **fields,
        }
    )


def test_a_compile_error_is_1_with_the_compiler_output_on_stderr() -> None:
    err = io.BytesIO()
    execution = ended(termination_reason="compile_error", compile_output="main.go:1: nope")
    assert runner.finish(execution, err) == 1
    assert err.getvalue() == b"main.go:1: nope\n"


def test_endings_and_their_codes() -> None:
    assert (
        runner.exit_code(ended(status="completed", termination_reason="exit", return_code=0)) == 0
    )
    assert runner.exit_code(ended(termination_reason="exit", return_code=3)) == 3
    assert runner.exit_code(ended(status="timeout", termination_reason="timeout")) == 124
    assert runner.exit_code(ended(termination_reason="memory_limit", exit_signal="SIGKILL")) == 137
    assert runner.exit_code(ended(termination_reason="sandbox_error")) == 125
    assert runner.exit_code(ended(status="cancelled", termination_reason="cancelled")) == 125
    assert runner.exit_code(ended(verdict="accepted", passed=2, total=2)) == 0
    assert runner.exit_code(ended(verdict="wrong_answer", passed=1, total=2)) == 1


def test_no_spinner_unless_stderr_is_a_terminal() -> None:
    quiet = Console(file=io.StringIO(), force_terminal=False)
    with runner.queued_spinner(quiet) as spinner:
        assert spinner is None
    tty = Console(file=io.StringIO(), force_terminal=True)
    with runner.queued_spinner(tty) as spinner:
        assert spinner is not None

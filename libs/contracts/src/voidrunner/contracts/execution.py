"""The vocabulary of an execution, defined once and used by every hop.

Values are the public API's texts: the executor reports them, NATS carries them as strings, the
tasks service stores them, the gateway returns them. Nothing maps one copy onto another.

    reason = TerminationReason.EXIT
    status_for(reason, return_code=0)           # Status.COMPLETED
    parse_reason("bogus")                        # TerminationReason.SANDBOX_ERROR

How a run ended decides its status: exit 0 → completed; timeout → timeout; cancelled →
cancelled; everything else (a non-zero exit, a limit hit, a security violation, a compile error,
a sandbox error) → failed. `return_code` is None whenever `exit_signal` is set.
"""

from __future__ import annotations

import enum
import signal as _signal


class Status(enum.StrEnum):
    """Where an execution is in its life: pending → running → one final status."""

    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    TIMEOUT = "timeout"
    CANCELLED = "cancelled"


FINAL: frozenset[Status] = frozenset(
    {Status.COMPLETED, Status.FAILED, Status.TIMEOUT, Status.CANCELLED}
)
ACTIVE: frozenset[Status] = frozenset({Status.PENDING, Status.RUNNING})


class TerminationReason(enum.StrEnum):
    """Why a run ended: the public API's `termination_reason`."""

    EXIT = "exit"
    TIMEOUT = "timeout"
    MEMORY_LIMIT = "memory_limit"
    OUTPUT_LIMIT = "output_limit"
    PIDS_LIMIT = "pids_limit"
    # The seccomp filter killed the program (SIGSYS).
    SECURITY_VIOLATION = "security_violation"
    CANCELLED = "cancelled"
    COMPILE_ERROR = "compile_error"
    SANDBOX_ERROR = "sandbox_error"


class StreamName(enum.StrEnum):
    """The program's output streams."""

    STDOUT = "stdout"
    STDERR = "stderr"


def status_for(reason: TerminationReason, return_code: int | None) -> Status:
    """The final status an ending means (see the module docstring)."""
    if reason is TerminationReason.EXIT:
        return Status.COMPLETED if return_code == 0 else Status.FAILED
    if reason is TerminationReason.TIMEOUT:
        return Status.TIMEOUT
    if reason is TerminationReason.CANCELLED:
        return Status.CANCELLED
    return Status.FAILED


# The reason a final status implies when whoever reported it gave none (an admin's update).
DEFAULT_REASON: dict[Status, TerminationReason] = {
    Status.COMPLETED: TerminationReason.EXIT,
    Status.FAILED: TerminationReason.EXIT,
    Status.TIMEOUT: TerminationReason.TIMEOUT,
    Status.CANCELLED: TerminationReason.CANCELLED,
}


def parse_reason(text: str) -> TerminationReason:
    """A reason from the wire; anything unknown (an older or broken reporter) is a sandbox error."""
    try:
        return TerminationReason(text)
    except ValueError:
        return TerminationReason.SANDBOX_ERROR


def signal_name(number: int) -> str:
    """ "SIGKILL" for 9; "SIG<n>" for a number this platform has no name for."""
    try:
        return _signal.Signals(number).name
    except ValueError:
        return f"SIG{number}"


def attempt_of(first_attempt: int, deliveries: int) -> int:
    """The attempt a job delivery is: the job's first attempt number plus earlier deliveries.

    `first_attempt` is Job.attempt (1 when the job was first queued; a requeue carries the next
    number), `deliveries` JetStream's delivery count of this message (1 for the first).
    """
    return max(first_attempt, 1) + max(deliveries, 1) - 1


class Verdict(enum.StrEnum):
    """How one test case went (derived from its ending and its output, see `verdict_for`)."""

    ACCEPTED = "accepted"
    WRONG_ANSWER = "wrong_answer"
    TIME_LIMIT_EXCEEDED = "time_limit_exceeded"
    MEMORY_LIMIT_EXCEEDED = "memory_limit_exceeded"
    OUTPUT_LIMIT_EXCEEDED = "output_limit_exceeded"
    RUNTIME_ERROR = "runtime_error"
    COMPILE_ERROR = "compile_error"
    INTERNAL_ERROR = "internal_error"


class Compare(enum.StrEnum):
    """How a test case's stdout is compared with its expected output."""

    EXACT = "exact"
    # Trailing whitespace of every line and trailing empty lines do not count (the default).
    TRIM_TRAILING_WHITESPACE = "trim_trailing_whitespace"
    # Only the sequence of non-whitespace tokens counts.
    IGNORE_WHITESPACE = "ignore_whitespace"


def _trimmed(data: bytes) -> list[bytes]:
    lines = [line.rstrip() for line in data.split(b"\n")]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def output_matches(actual: bytes, expected: bytes, compare: Compare) -> bool:
    """True when `actual` is `expected` under the comparison rule."""
    if compare is Compare.EXACT:
        return actual == expected
    if compare is Compare.IGNORE_WHITESPACE:
        return actual.split() == expected.split()
    return _trimmed(actual) == _trimmed(expected)


_REASON_VERDICTS: dict[TerminationReason, Verdict] = {
    TerminationReason.TIMEOUT: Verdict.TIME_LIMIT_EXCEEDED,
    TerminationReason.MEMORY_LIMIT: Verdict.MEMORY_LIMIT_EXCEEDED,
    TerminationReason.OUTPUT_LIMIT: Verdict.OUTPUT_LIMIT_EXCEEDED,
    TerminationReason.PIDS_LIMIT: Verdict.RUNTIME_ERROR,
    TerminationReason.SECURITY_VIOLATION: Verdict.RUNTIME_ERROR,
    TerminationReason.COMPILE_ERROR: Verdict.COMPILE_ERROR,
    TerminationReason.SANDBOX_ERROR: Verdict.INTERNAL_ERROR,
    TerminationReason.CANCELLED: Verdict.INTERNAL_ERROR,
}


def verdict_for(reason: TerminationReason, return_code: int | None, matched: bool) -> Verdict:
    """A test case's verdict from how its run ended: the one mapping from termination reasons."""
    if reason is TerminationReason.EXIT:
        if return_code != 0:  # a non-zero exit, or killed by a signal (return_code None)
            return Verdict.RUNTIME_ERROR
        return Verdict.ACCEPTED if matched else Verdict.WRONG_ANSWER
    return _REASON_VERDICTS[reason]


def status_for_cases(reason: TerminationReason, passed: int, total: int) -> Status:
    """The final status of an execution with test cases: completed when every case passed."""
    if reason is TerminationReason.CANCELLED:
        return Status.CANCELLED
    if reason is TerminationReason.EXIT and total > 0 and passed == total:
        return Status.COMPLETED
    return Status.FAILED


def overall_verdict(verdicts: list[Verdict]) -> Verdict:
    """An execution's verdict: the first case's that is not accepted, else accepted."""
    return next((v for v in verdicts if v is not Verdict.ACCEPTED), Verdict.ACCEPTED)

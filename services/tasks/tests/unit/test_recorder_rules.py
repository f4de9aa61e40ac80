"""Recording events (EventRecorder) over fakes: what a result becomes, how a spilled output is
read back, and what a broken or hostile executor's report turns into."""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from dataclasses import dataclass, field

import pytest

from voidrunner.contracts import topology as t
from voidrunner.contracts.claims import claim_hash
from voidrunner.proto.jobs.v1 import jobs_pb2
from voidrunner.tasks.attempt_claims import claim_after
from voidrunner.tasks.errors import ClaimRefused, InvalidTransition
from voidrunner.tasks.executions import ExecutionUpdate
from voidrunner.tasks.outputs import OutputLost
from voidrunner.tasks.recorder import EventRecorder, result_update, started_update
from voidrunner.tasks.service import Caller


@dataclass
class FakeExecutions:
    updates: list[tuple[str, ExecutionUpdate]] = field(default_factory=list)
    final: set[str] = field(default_factory=set)

    refuse: set[str] = field(default_factory=set)

    async def update(self, _caller: Caller, execution_id: str, change: ExecutionUpdate) -> None:
        if execution_id in self.final:
            raise InvalidTransition("cannot update execution with status: completed")
        if execution_id in self.refuse:
            raise ClaimRefused("attempt 1 is claimed by another executor")
        self.updates.append((execution_id, change))


@dataclass
class FakeOutputs:
    stored: dict[tuple[str, int], jobs_pb2.RunOutput] = field(default_factory=dict)
    purged: list[tuple[str, int]] = field(default_factory=list)

    async def fetch(
        self, execution_id: str, attempt: int, claim_tag: str, spill: jobs_pb2.Spill
    ) -> jobs_pb2.RunOutput:
        assert claim_tag  # only the parts of the result's own claim
        found = self.stored.get((execution_id, attempt))
        if found is None or found.ByteSize() != spill.size:
            raise OutputLost("0 of 3 output parts found")
        return found

    async def purge(self, execution_id: str, attempt: int) -> None:
        self.purged.append((execution_id, attempt))


def recorder() -> tuple[EventRecorder, FakeExecutions, FakeOutputs]:
    executions, outputs = FakeExecutions(), FakeOutputs()
    return EventRecorder(executions, outputs), executions, outputs  # type: ignore[arg-type]


def a_result(**fields: object) -> jobs_pb2.ExecutionResult:
    base: dict[str, object] = {
        "execution_id": str(uuid.uuid4()),
        "attempt": 1,
        "claim": b"the executor's claim",
        "termination_reason": "exit",
        "return_code": 0,
        "execution_time_ms": 12,
        "cpu_time_ms": 9,
        "memory_usage_bytes": 4096,
    }
    return jobs_pb2.ExecutionResult(**{**base, **fields})  # type: ignore[arg-type]


def test_a_result_becomes_the_public_fields() -> None:
    output = jobs_pb2.RunOutput(stdout=b"hi\n", stderr=b"e", spans=[3, -1])
    change = result_update(a_result(), output)
    assert (change.status, change.return_code, change.termination_reason) == (
        "completed",
        0,
        "exit",
    )
    assert (change.stdout, change.stderr, change.output_spans) == (b"hi\n", b"e", [3, -1])
    assert (change.cpu_time_ms, change.execution_time_ms, change.from_run) == (9, 12, True)


@pytest.mark.parametrize(
    ("reason", "code", "status"),
    [
        ("exit", 0, "completed"),
        ("exit", 3, "failed"),
        ("timeout", None, "timeout"),
        ("cancelled", None, "cancelled"),
        ("pids_limit", 0, "failed"),
        ("security_violation", None, "failed"),
        ("compile_error", None, "failed"),
        ("martian", 0, "failed"),  # unknown from a broken executor: a sandbox error
    ],
)
def test_status_follows_from_how_the_run_ended(reason: str, code: int | None, status: str) -> None:
    result = a_result(termination_reason=reason)
    if code is None:
        result.ClearField("return_code")
    else:
        result.return_code = code
    change = result_update(result, None)
    assert change.status == status
    if reason == "martian":
        assert change.termination_reason == "sandbox_error"


def test_what_an_executor_reports_is_bounded_and_checked() -> None:
    # A layout that does not add up is dropped (replays then fall back to whole streams); a
    # signal must look like one; a signal means no return code.
    lying = jobs_pb2.RunOutput(stdout=b"abc", spans=[2, 5])
    change = result_update(a_result(exit_signal="SIGKILL"), lying)
    assert change.output_spans is None
    assert (change.exit_signal, change.return_code) == ("SIGKILL", None)
    weird = result_update(a_result(exit_signal="; DROP TABLE"), None)
    assert weird.exit_signal is None
    long_detail = result_update(a_result(termination_detail="x" * 100_000), None)
    assert long_detail.termination_detail is not None
    assert len(long_detail.termination_detail) <= 4096


def test_a_claim_carries_the_attempts_deadline() -> None:
    at = dt.datetime(2026, 12, 2, 10, 0, tzinfo=dt.UTC)
    started = jobs_pb2.ExecutionStarted(execution_id="e", attempt=2, max_duration_ms=90_000)
    started.started_at.FromDatetime(at)
    change = started_update(started)
    assert (change.status, change.attempt, change.started_at) == ("running", 2, at)
    assert change.deadline_at == at + dt.timedelta(seconds=90)


async def test_a_spilled_output_is_read_back_then_purged() -> None:
    rec, executions, outputs = recorder()
    output = jobs_pb2.RunOutput(stdout=b"x" * 1000, spans=[1000])
    result = a_result()
    digest = hashlib.sha256(output.SerializeToString()).digest()
    result.spilled_output.CopyFrom(jobs_pb2.Spill(parts=1, size=output.ByteSize(), sha256=digest))
    outputs.stored[(result.execution_id, 1)] = output
    await rec.record(t.RESULT_SUBJECT, result.SerializeToString())
    [(eid, change)] = executions.updates
    assert (eid, change.stdout) == (result.execution_id, b"x" * 1000)
    assert outputs.purged == [(result.execution_id, 1)]


async def test_a_lost_output_still_records_the_result_and_says_so() -> None:
    rec, executions, _ = recorder()
    result = a_result(termination_detail="")
    result.spilled_output.CopyFrom(jobs_pb2.Spill(parts=3, size=10, sha256=b"0" * 32))
    await rec.record(t.RESULT_SUBJECT, result.SerializeToString())
    [(_, change)] = executions.updates
    assert change.status == "completed"
    assert change.stdout is None
    assert change.termination_detail is not None
    assert "could not be retrieved" in change.termination_detail


async def test_malformed_unknown_and_duplicate_events_are_dropped() -> None:
    rec, executions, _ = recorder()
    await rec.record(t.RESULT_SUBJECT, b"\xff\xfe not a result")
    await rec.record("vr.events.bogus", a_result().SerializeToString())
    done = a_result()
    executions.final.add(done.execution_id)
    await rec.record(t.RESULT_SUBJECT, done.SerializeToString())  # no exception: acknowledged
    assert executions.updates == []


async def test_executor_events_need_a_claim_and_carry_its_hash() -> None:
    rec, executions, _ = recorder()
    await rec.record(t.RESULT_SUBJECT, a_result(claim=b"").SerializeToString())
    unclaimed = jobs_pb2.ExecutionStarted(execution_id="e", attempt=1)
    await rec.record(t.STARTED_SUBJECT, unclaimed.SerializeToString())
    assert executions.updates == []
    result = a_result()
    await rec.record(t.RESULT_SUBJECT, result.SerializeToString())
    [(_, change)] = executions.updates
    assert change.claim == claim_hash(result.claim)
    assert change.claim != result.claim  # the secret itself is never stored


async def test_the_pipelines_results_need_no_claim() -> None:
    rec, executions, _ = recorder()
    ended = a_result(claim=b"", termination_reason="sandbox_error")
    await rec.record(t.PIPELINE_RESULT_SUBJECT, ended.SerializeToString())
    [(_, change)] = executions.updates
    assert change.claim is None
    assert change.status == "failed"


async def test_a_refused_claim_purges_nothing() -> None:
    rec, executions, outputs = recorder()
    output = jobs_pb2.RunOutput(stdout=b"x" * 1000, spans=[1000])
    forged = a_result(claim=b"someone else's")
    digest = hashlib.sha256(output.SerializeToString()).digest()
    forged.spilled_output.CopyFrom(jobs_pb2.Spill(parts=1, size=output.ByteSize(), sha256=digest))
    outputs.stored[(forged.execution_id, 1)] = output
    executions.refuse.add(forged.execution_id)
    await rec.record(t.RESULT_SUBJECT, forged.SerializeToString())
    assert executions.updates == []
    assert outputs.purged == []  # the real attempt's spilled output stays


def test_claim_rules() -> None:
    a, b = claim_hash(b"a"), claim_hash(b"b")
    assert claim_after(None, 0, a, 1) == a  # the first claim binds
    assert claim_after(a, 1, a, 1) == a  # its holder reports again
    assert claim_after(a, 1, b, 2) == b  # a redelivery takes over
    with pytest.raises(ClaimRefused, match="taken over"):
        claim_after(b, 2, a, 1)  # the previous holder is refused from then on
    with pytest.raises(ClaimRefused, match="another executor"):
        claim_after(a, 1, b, 1)  # a second claim of the same attempt

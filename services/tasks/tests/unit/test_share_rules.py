"""Sharing's pure rules: what a share may name, and what a non-owner sees of a task."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from voidrunner.contracts.shares import ShareRole
from voidrunner.proto.jobs.v1 import jobs_pb2
from voidrunner.tasks.errors import FieldErrors
from voidrunner.tasks.repository import TaskRecord
from voidrunner.tasks.shares import check_share, redacted

NOW = dt.datetime(2026, 12, 3, tzinfo=dt.UTC)


def _task(shared_role: str | None) -> TaskRecord:
    inputs = jobs_pb2.RunInputs(
        test_cases=[
            jobs_pb2.TestCase(name="open", stdin=b"1", expected_stdout=b"1"),
            jobs_pb2.TestCase(name="secret", stdin=b"2", expected_stdout=b"42", hidden=True),
        ]
    )
    return TaskRecord(
        id=uuid.uuid4(),
        user_id=uuid.uuid4(),
        name="t",
        description=None,
        script_content="print(1)",
        script_type="python",
        status="pending",
        priority=5,
        timeout_seconds=60,
        metadata={},
        stdin=b"in",
        env={"TOKEN": "s3cret"},
        memory_limit_mb=256,
        cpu_limit=1.0,
        max_output_bytes=1024,
        version="3.11",
        inputs=inputs,
        created_at=NOW,
        updated_at=NOW,
        shared_role=shared_role,
    )


def test_owners_see_everything_and_others_neither_env_nor_hidden_cases() -> None:
    mine = _task(None)
    assert redacted(mine) is mine
    theirs = redacted(_task("viewer"))
    assert theirs.env == {}
    open_case, hidden = theirs.inputs.test_cases
    assert (open_case.stdin, open_case.expected_stdout) == (b"1", b"1")
    assert hidden == jobs_pb2.TestCase(name="secret", hidden=True)
    assert theirs.stdin == b"in"  # the task's input is not a secret of its owner's


def test_a_share_names_a_role_and_an_address_not_the_owners() -> None:
    assert check_share("grace@example.com", "runner", "ada@example.com") is ShareRole.RUNNER
    for email, role, field in (
        ("ADA@example.com", "viewer", "email"),
        ("no-at-sign", "viewer", "email"),
        ("grace@example.com", "admin", "role"),
        ("a@\x00", "viewer", "email"),
    ):
        with pytest.raises(FieldErrors) as caught:
            check_share(email, role, "ada@example.com")
        assert [v.field for v in caught.value.violations] == [field], (email, role)

"""A one-shot run's test cases as the API shows them: visible ones as given, hidden ones by name."""

from __future__ import annotations

import base64
import json
import uuid

from google.protobuf.timestamp_pb2 import Timestamp

from voidrunner.gateway.execution_view import execution_body
from voidrunner.proto.jobs.v1 import jobs_pb2
from voidrunner.proto.tasks.v1 import tasks_pb2

SECRET_IN = b"secret-input-7319\n"
SECRET_OUT = b"secret-expected-14638\n"


def one_shot(*cases: jobs_pb2.TestCase, stop: bool = False) -> tasks_pb2.Execution:
    return tasks_pb2.Execution(
        id=str(uuid.uuid4()),
        status="completed",
        created_at=Timestamp(seconds=1_800_000_000),
        inputs=jobs_pb2.RunInputs(source="print(1)", test_cases=cases, stop_on_first_failure=stop),
    )


def shown(e: tasks_pb2.Execution) -> dict[str, object]:
    body: dict[str, object] = execution_body(e).model_dump(mode="json", exclude_none=True)
    return body


def test_visible_cases_show_their_inputs_and_hidden_ones_only_their_name() -> None:
    e = one_shot(
        jobs_pb2.TestCase(name="small", stdin=b"2\n", expected_stdout=b"4\n", compare="exact"),
        jobs_pb2.TestCase(name="own args", args=["a", "two words"], has_args=True),
        jobs_pb2.TestCase(name="no args", has_args=True),
        jobs_pb2.TestCase(
            name="secret",
            stdin=SECRET_IN,
            args=["--secret-arg"],
            has_args=True,
            expected_stdout=SECRET_OUT,
            compare="exact",
            hidden=True,
        ),
        stop=True,
    )
    run = shown(e)["run"]
    assert isinstance(run, dict)
    assert run["stop_on_first_failure"] is True
    assert run["test_cases"] == [
        {
            "name": "small",
            "hidden": False,
            "stdin": "2\n",
            "expected_stdout": "4\n",
            "compare": "exact",
        },
        {
            "name": "own args",
            "hidden": False,
            "stdin": "",
            "args": ["a", "two words"],
            "expected_stdout": "",
            "compare": "trim_trailing_whitespace",
        },
        {
            "name": "no args",
            "hidden": False,
            "stdin": "",
            "args": [],
            "expected_stdout": "",
            "compare": "trim_trailing_whitespace",
        },
        {"name": "secret", "hidden": True},
    ]
    text = json.dumps(shown(e))
    for leak in ("secret-input", "secret-expected", "--secret-arg"):
        assert leak not in text


def test_bytes_that_are_not_text_come_back_as_base64_alone() -> None:
    raw = b"\xff\x00\x01"
    e = one_shot(jobs_pb2.TestCase(name="bin", stdin=raw, expected_stdout=b"caf\xc3\xa9\x00"))
    (case,) = shown(e)["run"]["test_cases"]  # type: ignore[index]
    assert case["stdin_base64"] == base64.b64encode(raw).decode()
    assert "stdin" not in case
    # Valid UTF-8 with NUL is exact text (a user's own input given back).
    assert case["expected_stdout"] == "café\x00"
    assert "expected_stdout_base64" not in case


def test_a_run_without_cases_has_no_test_case_fields() -> None:
    run = shown(one_shot())["run"]
    assert isinstance(run, dict)
    assert "test_cases" not in run
    assert "stop_on_first_failure" not in run

"""The rules of a run's inputs beyond its script: files, entrypoint, arguments, test cases.

Checked by the service that owns tasks for tasks and one-shot runs alike; every broken rule is a
Violation named by its JSON field (`files.2.path`, `test_cases.0.expected_stdout`), so one
answer names them all. Paths follow voidrunner.contracts.files.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from voidrunner.common.text import is_storable_text
from voidrunner.contracts.execution import Compare
from voidrunner.contracts.files import path_problem
from voidrunner.proto.jobs.v1 import jobs_pb2

__all__ = ["DEFAULT_CAPS", "InputCaps", "check_args", "check_files", "check_test_cases"]

MAX_ARGS = 256
MAX_ARG_CHARS = 4096
MAX_CASE_NAME = 255
MAX_STDIN_BYTES = 1_048_576
_COMPARES = ", ".join(c.value for c in Compare)

Fail = Callable[[str, str, str, object], None]


@dataclass(frozen=True, slots=True)
class InputCaps:
    """The operator's caps on files and test cases."""

    max_files: int
    max_files_bytes: int
    max_test_cases: int


DEFAULT_CAPS = InputCaps(max_files=100, max_files_bytes=8 * 1024 * 1024, max_test_cases=100)


def check_args(fail: Fail, where: str, args: Sequence[str]) -> None:
    """A program's arguments: how many, how long, and text without NUL."""
    if len(args) > MAX_ARGS:
        fail(where, "max", f"{where} must have at most {MAX_ARGS} arguments", len(args))
    for i, arg in enumerate(args[:MAX_ARGS]):
        if len(arg) > MAX_ARG_CHARS:
            fail(f"{where}.{i}", "max", f"arguments must be at most {MAX_ARG_CHARS} characters", "")
        elif not is_storable_text(arg):
            fail(
                f"{where}.{i}", "format", "arguments must not contain NUL or invalid characters", ""
            )


def check_files(
    fail: Fail, files: Sequence[jobs_pb2.File], entrypoint: str | None, caps: InputCaps
) -> None:
    """Paths valid and distinct, count and total size within the caps, the entry among them."""
    if not files:
        fail("files", "min", "files must hold at least one file", "")
    if len(files) > caps.max_files:
        fail("files", "max", f"files must be at most {caps.max_files} (operator cap)", len(files))
    total = sum(len(f.content) for f in files)
    if total > caps.max_files_bytes:
        fail(
            "files",
            "max",
            f"files must hold at most {caps.max_files_bytes} bytes in all (operator cap)",
            total,
        )
    seen: set[str] = set()
    for i, item in enumerate(files[: caps.max_files]):
        problem = path_problem(item.path)
        if problem:
            fail(f"files.{i}.path", "format", f"path {problem}", item.path)
        elif item.path in seen:
            fail(f"files.{i}.path", "unique", "paths must not repeat", item.path)
        seen.add(item.path)
    if entrypoint is not None and files and entrypoint not in seen:
        fail("entrypoint", "oneof", "entrypoint must be the path of one of the files", entrypoint)


def check_test_cases(
    fail: Fail, cases: Sequence[jobs_pb2.TestCase], caps: InputCaps, max_output: int
) -> None:
    """Count within the cap; each case named, its stdin and expected output bounded."""
    if len(cases) > caps.max_test_cases:
        fail(
            "test_cases",
            "max",
            f"test_cases must be at most {caps.max_test_cases} (operator cap)",
            len(cases),
        )
    for i, case in enumerate(cases[: caps.max_test_cases]):
        where = f"test_cases.{i}"
        if not case.name.strip() or len(case.name) > MAX_CASE_NAME:
            fail(f"{where}.name", "required", f"name must be 1 to {MAX_CASE_NAME} characters", "")
        elif not is_storable_text(case.name):
            fail(f"{where}.name", "format", "name must not contain NUL or invalid characters", "")
        if len(case.stdin) > MAX_STDIN_BYTES:
            fail(f"{where}.stdin", "max", f"stdin must be at most {MAX_STDIN_BYTES} bytes", "")
        if len(case.expected_stdout) > max_output:
            fail(
                f"{where}.expected_stdout",
                "max",
                f"expected_stdout must be at most max_output_bytes ({max_output} bytes)",
                "",
            )
        if case.compare and case.compare not in {c.value for c in Compare}:
            fail(f"{where}.compare", "oneof", f"compare must be one of: {_COMPARES}", case.compare)
        if case.has_args:
            check_args(fail, f"{where}.args", case.args)

"""Bodies of a run's inputs beyond its script: files, arguments, binary stdin, test cases.

Text or base64 in, bytes to the tasks service: a file's `encoding` says which; `stdin` and
`stdin_base64` (likewise for a case's stdin and expected output) are alternatives. Bytes come
back the same way: the text form when it is exact, else base64. Operator caps (how many files,
how large, how many cases) are the tasks service's; the bounds here only keep absurd bodies
from being decoded at all.
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from voidrunner.common.text import is_storable_text
from voidrunner.contracts.execution import Compare
from voidrunner.contracts.output import text_form
from voidrunner.proto.jobs.v1 import jobs_pb2

MAX_FILES_SANE = 10_000
MAX_CASES_SANE = 10_000
MAX_ARGS_SANE = 10_000

_strict = ConfigDict(extra="ignore", strict=True)


def decode_base64(value: str) -> bytes:
    """Standard base64 (padding required), or a field error."""
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise PydanticCustomError("format", "must be valid base64") from None


def _text(value: str) -> str:
    # Text travels as UTF-8 bytes, so lone surrogates cannot; NUL can (it is a byte).
    if not is_storable_text(value.replace("\x00", "")):
        raise PydanticCustomError("format", "must be valid text (use base64 for bytes)")
    return value


def _base64(value: str) -> str:
    decode_base64(value)
    return value


Text = Annotated[str, AfterValidator(_text)]
Base64 = Annotated[str, AfterValidator(_base64), Field(examples=["aGVsbG8K"])]
Arg = Annotated[str, Field(max_length=4096)]
Args = Annotated[list[Arg], Field(max_length=MAX_ARGS_SANE, examples=[["--verbose", "input.txt"]])]


def bytes_of(text: str | None, encoded: str | None) -> bytes | None:
    """The bytes of a text-or-base64 pair of fields (at most one is given)."""
    if encoded is not None:
        return base64.b64decode(encoded, validate=True)
    return None if text is None else text.encode()


def _one_of(body: BaseModel, *names: str) -> None:
    given = [n for n in names if getattr(body, n) is not None]
    if len(given) > 1:
        raise PydanticCustomError(
            "excluded", "give {names}, not both", {"names": " or ".join(names)}
        )


class FileIn(BaseModel):
    """A file of the work dir: `content` as text, or as base64 with `encoding: base64`."""

    model_config = _strict
    path: Annotated[str, Field(min_length=1, max_length=255, examples=["src/util.py"])]
    content: str = Field(max_length=16 * 1024 * 1024)
    encoding: Literal["utf8", "base64"] = "utf8"

    @model_validator(mode="after")
    def _decodes(self) -> FileIn:
        if self.encoding == "base64":
            decode_base64(self.content)
        else:
            _text(self.content)
        return self

    def message(self) -> jobs_pb2.File:
        data = (
            base64.b64decode(self.content) if self.encoding == "base64" else self.content.encode()
        )
        return jobs_pb2.File(path=self.path, content=data)


class FileOut(BaseModel):
    path: str
    content: str
    encoding: Literal["utf8", "base64"]


def file_body(f: jobs_pb2.File) -> FileOut:
    """A stored file as the API returns it: text when exact, else base64."""
    text, exact = text_form(f.content, nul=True)
    if exact:
        return FileOut(path=f.path, content=text, encoding="utf8")
    return FileOut(path=f.path, content=base64.b64encode(f.content).decode(), encoding="base64")


class TestCaseIn(BaseModel):
    """A test case: the program runs once per case and its stdout is compared."""

    model_config = _strict
    name: Annotated[str, Field(min_length=1, max_length=255, examples=["sample 1"])]
    stdin: Text | None = None
    stdin_base64: Base64 | None = None
    args: Args | None = Field(default=None, description="Replaces the run's arguments")
    expected_stdout: Text | None = None
    expected_stdout_base64: Base64 | None = None
    compare: Annotated[Compare, Field(strict=False)] = Compare.TRIM_TRAILING_WHITESPACE
    hidden: bool = Field(
        default=False, description="Never reveal this case's input, expected or actual output"
    )

    @model_validator(mode="after")
    def _alternatives(self) -> TestCaseIn:
        _one_of(self, "stdin", "stdin_base64")
        _one_of(self, "expected_stdout", "expected_stdout_base64")
        return self

    def message(self) -> jobs_pb2.TestCase:
        return jobs_pb2.TestCase(
            name=self.name,
            stdin=bytes_of(self.stdin, self.stdin_base64) or b"",
            args=self.args or [],
            has_args=self.args is not None,
            expected_stdout=bytes_of(self.expected_stdout, self.expected_stdout_base64) or b"",
            compare=self.compare.value,
            hidden=self.hidden,
        )


class TestCaseOut(BaseModel):
    """A test case as its owner wrote it (only on the task definition). Users the task is
    shared with see a hidden case as its `name` and `hidden` alone."""

    name: str
    stdin: str | None = None
    stdin_base64: str | None = None
    args: list[str] | None = None
    expected_stdout: str | None = None
    expected_stdout_base64: str | None = None
    compare: Compare | None = Field(
        default=None,
        description="Omitted for a hidden case shown to a user the task is shared with",
    )
    hidden: bool


def _pair(data: bytes, name: str) -> dict[str, str]:
    text, exact = text_form(data, nul=True)
    return {name: text} if exact else {f"{name}_base64": base64.b64encode(data).decode()}


def test_case_body(case: jobs_pb2.TestCase, *, owner: bool) -> TestCaseOut:
    """A stored test case: whole for its owner, a hidden one by name for anyone else."""
    if case.hidden and not owner:
        return TestCaseOut(name=case.name, hidden=True)
    return TestCaseOut(
        name=case.name,
        **_pair(case.stdin, "stdin"),
        args=list(case.args) if case.has_args else None,
        **_pair(case.expected_stdout, "expected_stdout"),
        compare=Compare(case.compare or Compare.TRIM_TRAILING_WHITESPACE.value),
        hidden=case.hidden,
    )


Files = Annotated[list[FileIn], Field(max_length=MAX_FILES_SANE)]
TestCases = Annotated[list[TestCaseIn], Field(max_length=MAX_CASES_SANE)]

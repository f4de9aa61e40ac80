"""Field rules of a task, checked by the service that owns tasks (the gateway checks the static
ones too, for early errors and the OpenAPI document; this is the authority for every caller).

Each broken rule becomes a Violation named by the public JSON field, so the gateway can answer
400 "Validation failed" with validation_errors however the request reached us.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from voidrunner.common.text import is_storable_text as clean_text
from voidrunner.proto.jobs.v1 import jobs_pb2
from voidrunner.tasks.errors import FieldErrors, Violation
from voidrunner.tasks.inputs import (
    DEFAULT_CAPS,
    InputCaps,
    check_args,
    check_files,
    check_test_cases,
)

NAME_FORBIDDEN = frozenset("<>\"'&;|`$(){}[]\\/:*?\n\r\t")
MAX_NAME = 255
MAX_DESCRIPTION = 1000
MAX_SCRIPT = 65_535
MAX_METADATA_BYTES = 64 * 1024
MAX_METADATA_DEPTH = 32
MAX_STDIN_BYTES = 1_048_576
MAX_ENV = 64
MAX_TIMEOUT = 3600
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True, slots=True)
class Limits:
    """The operator's configuration a task's fields are checked against."""

    runtimes: tuple[str, ...]
    max_timeout_seconds: int
    max_memory_limit_mb: int
    max_cpu_limit: float
    max_max_output_bytes: int
    inputs: InputCaps = DEFAULT_CAPS
    # Why (script_type, version) names no runtime ('' when it does); None: names only.
    resolve: Callable[[str, str | None], str] | None = None


@dataclass(slots=True)
class TaskPatch:
    """The fields a create or update request carries; None means "not given"."""

    name: str | None = None
    description: str | None = None
    clear_description: bool = False
    script_content: str | None = None
    script_type: str | None = None
    priority: int | None = None
    timeout_seconds: int | None = None
    metadata: dict[str, Any] | None = None
    stdin: bytes | None = None
    clear_stdin: bool = False
    env: dict[str, str] | None = None
    memory_limit_mb: int | None = None
    cpu_limit: float | None = None
    max_output_bytes: int | None = None
    version: str | None = None
    files: list[jobs_pb2.File] | None = None
    entrypoint: str | None = None
    args: list[str] | None = None
    test_cases: list[jobs_pb2.TestCase] | None = None
    stop_on_first_failure: bool | None = None
    # Where webhooks of every execution also go (tasks.webhooks.callbacks vets it).
    callback_url: str | None = None
    clear_callback_url: bool = False
    # Violations found while decoding the request (e.g. metadata that is not JSON).
    early: list[Violation] = field(default_factory=list)


def _short(value: object) -> str:
    text = str(value)
    return text if len(text) <= 100 else text[:100] + "…"


class _Checker:
    def __init__(self, early: list[Violation]) -> None:
        self.found: list[Violation] = list(early)

    def fail(self, name: str, tag: str, message: str, value: object = "") -> None:
        self.found.append(Violation(name, tag, message, _short(value)))

    def text(self, name: str, value: str, lo: int, hi: int, *, blank_ok: bool = False) -> bool:
        if not clean_text(value):
            self.fail(name, "format", f"{name} must not contain NUL or invalid characters")
            return False
        if not lo <= len(value) <= hi:
            tag = "min" if len(value) < lo else "max"
            self.fail(name, tag, f"{name} must be {lo} to {hi} characters", value)
            return False
        if not blank_ok and not value.strip():
            self.fail(name, "required", f"{name} must not be blank", value)
            return False
        return True

    def number(self, name: str, value: float, lo: float, hi: float, hint: str = "") -> None:
        if isinstance(value, float) and not math.isfinite(value):
            self.fail(name, "format", f"{name} must be a finite number", value)
        elif value < lo:
            self.fail(name, "min", f"{name} must be at least {lo}", value)
        elif value > hi:
            self.fail(name, "max", f"{name} must be at most {hi}{hint}", value)


def check_patch(patch: TaskPatch, limits: Limits) -> None:
    """Raise FieldErrors listing every rule the given fields break."""
    c = _Checker(patch.early)
    if patch.name is not None and c.text("name", patch.name, 1, MAX_NAME):
        bad = sorted(set(patch.name) & NAME_FORBIDDEN)
        if bad:
            shown = " ".join(repr(b)[1:-1] for b in bad)
            c.fail("name", "format", f"name must not contain: {shown}", patch.name)
    if patch.description is not None:
        c.text("description", patch.description, 0, MAX_DESCRIPTION, blank_ok=True)
    if patch.script_content is not None:
        c.text("script_content", patch.script_content, 1, MAX_SCRIPT)
    if patch.script_content is not None and patch.files is not None:
        c.fail("files", "excluded", "give script_content or files, not both")
    _check_runtime(c, patch, limits)
    if patch.metadata is not None:
        _check_metadata(c, patch.metadata)
    # stdin is stored as bytes, so NUL is fine there.
    if patch.stdin is not None and len(patch.stdin) > MAX_STDIN_BYTES:
        c.fail("stdin", "max", f"stdin must be at most {MAX_STDIN_BYTES} bytes")
    _check_inputs(c, patch, limits)
    if patch.env is not None:
        _check_env(c, patch.env)
    _check_resources(c, patch, limits)
    if c.found:
        raise FieldErrors(c.found)


def _check_inputs(c: _Checker, patch: TaskPatch, limits: Limits) -> None:
    if patch.files is not None:
        check_files(c.fail, patch.files, patch.entrypoint, limits.inputs)
    elif patch.entrypoint is not None and patch.script_content is not None:
        c.fail("entrypoint", "excluded", "entrypoint goes with files, not script_content")
    if patch.args is not None:
        check_args(c.fail, "args", patch.args)
    if patch.test_cases is not None:
        max_output = patch.max_output_bytes or limits.max_max_output_bytes
        check_test_cases(c.fail, patch.test_cases, limits.inputs, max_output)


def _check_runtime(c: _Checker, patch: TaskPatch, limits: Limits) -> None:
    if patch.script_type is None:
        if patch.version is not None:
            c.fail("version", "required_with", "version goes with script_type", patch.version)
        return
    if limits.resolve is None:
        if patch.script_type not in limits.runtimes:
            allowed = ", ".join(limits.runtimes)
            c.fail(
                "script_type", "oneof", f"script_type must be one of: {allowed}", patch.script_type
            )
        return
    problem = limits.resolve(patch.script_type, patch.version)
    if problem.startswith("unknown version"):
        c.fail("version", "oneof", problem, patch.version or "")
    elif problem:
        allowed = ", ".join(limits.runtimes)
        c.fail("script_type", "oneof", f"script_type must be one of: {allowed}", patch.script_type)


def _check_resources(c: _Checker, patch: TaskPatch, limits: Limits) -> None:
    if patch.priority is not None:
        c.number("priority", patch.priority, 0, 10)
    cap = " (operator cap)"
    if patch.timeout_seconds is not None:
        c.number("timeout_seconds", patch.timeout_seconds, 1, limits.max_timeout_seconds, cap)
    if patch.memory_limit_mb is not None:
        c.number("memory_limit_mb", patch.memory_limit_mb, 16, limits.max_memory_limit_mb, cap)
    if patch.cpu_limit is not None:
        c.number("cpu_limit", patch.cpu_limit, 0.1, limits.max_cpu_limit, cap)
    if patch.max_output_bytes is not None:
        c.number("max_output_bytes", patch.max_output_bytes, 1024, limits.max_max_output_bytes, cap)


def _check_metadata(c: _Checker, metadata: dict[str, Any]) -> None:
    problem = _json_problem(metadata, 0)
    if problem:
        c.fail("metadata", "format", f"metadata {problem}")
        return
    size = len(json.dumps(metadata, separators=(",", ":"), ensure_ascii=False).encode())
    if size > MAX_METADATA_BYTES:
        c.fail("metadata", "max", f"metadata must be at most {MAX_METADATA_BYTES} bytes as JSON")


def _json_problem(value: Any, depth: int) -> str:
    """Why PostgreSQL's jsonb would refuse `value` (or we would choke on it); '' when fine."""
    if depth > MAX_METADATA_DEPTH:
        return f"must not be nested more than {MAX_METADATA_DEPTH} levels deep"
    if isinstance(value, str):
        return "" if clean_text(value) else "must not contain NUL or invalid characters"
    if isinstance(value, float) and not math.isfinite(value):
        return "must not contain NaN or Infinity"
    if isinstance(value, dict):
        for key, item in value.items():
            found = _json_problem(key, depth) or _json_problem(item, depth + 1)
            if found:
                return found
    if isinstance(value, list):
        for item in value:
            found = _json_problem(item, depth + 1)
            if found:
                return found
    return ""


def _check_env(c: _Checker, env: dict[str, str]) -> None:
    if len(env) > MAX_ENV:
        c.fail("env", "max", f"env must have at most {MAX_ENV} entries", len(env))
    for key, value in env.items():
        if not ENV_NAME.match(key):
            c.fail(f"env.{_short(key)}", "format", "env names must match [A-Za-z_][A-Za-z0-9_]*")
        elif not clean_text(value):
            c.fail(f"env.{key}", "format", "env values must not contain NUL or invalid characters")


def parse_metadata(text: str, what: str = "metadata") -> tuple[dict[str, Any] | None, str]:
    """A JSON object from `text`, or (None, why not)."""
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return None, f"{what} must be valid JSON"
    if not isinstance(value, dict):
        return None, f"{what} must be a JSON object"
    return value, ""

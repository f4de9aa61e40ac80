"""Task field rules in the tasks service: each rule broken alone names its JSON field."""

from __future__ import annotations

from typing import Any

import pytest

from voidrunner.tasks.errors import FieldErrors
from voidrunner.tasks.service import escape_like
from voidrunner.tasks.validation import Limits, TaskPatch, check_patch, parse_metadata

LIMITS = Limits(
    runtimes=("python", "bash"),
    max_timeout_seconds=3600,
    max_memory_limit_mb=1024,
    max_cpu_limit=2.0,
    max_max_output_bytes=1 << 20,
)


def _fields_of(**fields: Any) -> list[tuple[str, str]]:
    try:
        check_patch(TaskPatch(**fields), LIMITS)
    except FieldErrors as exc:
        return [(v.field, v.tag) for v in exc.violations]
    return []


def test_a_valid_patch_passes() -> None:
    assert (
        _fields_of(
            name="ok name-1.2",
            description="",
            script_content="print(1)",
            script_type="python",
            priority=0,
            timeout_seconds=3600,
            metadata={"a": [1, {"b": None}]},
            stdin="x\x00y",
            env={"A_1": "v", "_": ""},
            memory_limit_mb=1024,
            cpu_limit=0.1,
            max_output_bytes=1024,
        )
        == []
    )


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"name": ""}, ("name", "min")),
        ({"name": "x" * 256}, ("name", "max")),
        ({"name": "   "}, ("name", "required")),
        ({"name": "a/b"}, ("name", "format")),
        ({"name": "tab\there"}, ("name", "format")),
        ({"name": "nul\x00"}, ("name", "format")),
        ({"description": "x" * 1001}, ("description", "max")),
        ({"script_content": ""}, ("script_content", "min")),
        ({"script_content": " \n"}, ("script_content", "required")),
        ({"script_content": "x" * 65_536}, ("script_content", "max")),
        ({"script_type": "cobol"}, ("script_type", "oneof")),
        ({"priority": -1}, ("priority", "min")),
        ({"priority": 11}, ("priority", "max")),
        ({"timeout_seconds": 0}, ("timeout_seconds", "min")),
        ({"timeout_seconds": 3601}, ("timeout_seconds", "max")),
        ({"metadata": {"k": "x" * 70_000}}, ("metadata", "max")),
        ({"metadata": {"k": "\x00"}}, ("metadata", "format")),
        ({"metadata": {"k": float("nan")}}, ("metadata", "format")),
        ({"stdin": "x" * (1_048_576 + 1)}, ("stdin", "max")),
        ({"env": {f"K{i}": "" for i in range(65)}}, ("env", "max")),
        ({"env": {"1BAD": ""}}, ("env.1BAD", "format")),
        ({"env": {"OK": "a\x00"}}, ("env.OK", "format")),
        ({"memory_limit_mb": 15}, ("memory_limit_mb", "min")),
        ({"memory_limit_mb": 1025}, ("memory_limit_mb", "max")),
        ({"cpu_limit": 0.05}, ("cpu_limit", "min")),
        ({"cpu_limit": 2.5}, ("cpu_limit", "max")),
        ({"cpu_limit": float("inf")}, ("cpu_limit", "format")),
        ({"max_output_bytes": 1023}, ("max_output_bytes", "min")),
        ({"max_output_bytes": (1 << 20) + 1}, ("max_output_bytes", "max")),
    ],
)
def test_each_rule_alone(fields: dict[str, Any], expected: tuple[str, str]) -> None:
    assert _fields_of(**fields) == [expected]


def test_deep_metadata_is_refused_without_recursing_forever() -> None:
    deep: dict[str, Any] = {}
    node = deep
    for _ in range(100):
        node["k"] = {}
        node = node["k"]
    assert _fields_of(metadata=deep) == [("metadata", "format")]


def test_parse_metadata() -> None:
    assert parse_metadata('{"a": 1}') == ({"a": 1}, "")
    assert parse_metadata("[1]")[0] is None
    assert parse_metadata("{")[0] is None
    assert parse_metadata("[" * 100_000)[0] is None


def test_like_patterns_are_escaped() -> None:
    assert escape_like(r"50%_off\now") == r"50\%\_off\\now"

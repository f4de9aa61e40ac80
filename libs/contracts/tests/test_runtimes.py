"""The runtime catalogue: bundled entries, operator overrides, validation, placeholders."""

from __future__ import annotations

from pathlib import Path

import pytest

from voidrunner.contracts.output import GRPC_MAX_MESSAGE_BYTES, MAX_OUTPUT_CAP_BYTES
from voidrunner.contracts.runtimes import (
    Limits,
    Paths,
    UnknownRuntime,
    load_catalog,
    parse_limits,
    parse_size,
)

MiB = 1024 * 1024


def test_bundled_catalogue_has_the_four_languages() -> None:
    catalog = load_catalog()
    assert catalog.names() == ["bash", "go", "javascript", "python"]
    assert len(catalog) == 4
    assert "python" in catalog
    python = catalog.get("python")
    assert python.image == "voidrunner/sandbox-python:latest"
    assert python.host_binaries == ("python3",)
    assert python.compile is None
    assert python.run_argv(Paths("/tmp", "main.py"))[-1] == "/tmp/main.py"


def test_go_compiles_with_its_own_larger_limits() -> None:
    go = load_catalog().get("go")
    assert go.compile is not None
    assert go.compile.limits.memory_bytes > go.default_limits.memory_bytes
    assert go.compile.limits.pids > go.default_limits.pids
    paths = Paths("/tmp", "main.go", sources=("main.go", "util.go"), artifact="/tmp/main")
    argv = go.compile.argv(paths)
    assert argv == ["go", "build", "-o", "/tmp/main", "/tmp/main.go", "/tmp/util.go"]
    assert go.run_argv(Paths("/tmp", "main.go", artifact="/s/main")) == ["/s/main"]
    assert go.environment(workdir="/w")["GOCACHE"] == "/w/.cache/go-build"


def test_unknown_runtime_is_refused_naming_the_known_ones() -> None:
    with pytest.raises(UnknownRuntime, match=r"unknown runtime .cobol.*python"):
        load_catalog().get("cobol")


def test_shipped_task_defaults_are_the_contracts_for_every_runtime() -> None:
    catalog = load_catalog()
    for spec in catalog:
        assert spec.default_limits.timeout_seconds == 300, spec.name
        assert spec.default_limits.memory_limit_mb == 256, spec.name
        assert spec.default_limits.cpu == 1.0, spec.name
        assert spec.default_limits.max_output_bytes == MiB, spec.name
    assert catalog.caps.max_output_bytes == 16 * MiB
    assert catalog.caps.timeout_seconds == 3600


def test_caps_are_operator_settings_within_hard_bounds(tmp_path: Path) -> None:
    override = tmp_path / "runtimes.toml"
    override.write_text('[caps]\nmax_output_bytes = "10MiB"\nmemory_bytes = "512MiB"\n')
    caps = load_catalog(override).caps
    assert (caps.max_output_bytes, caps.memory_bytes, caps.cpu) == (10 * MiB, 512 * MiB, 4.0)
    override.write_text('[caps]\nmax_output_bytes = "128MiB"\n')
    with pytest.raises(ValueError, match="max_output_bytes must be at most"):
        load_catalog(override)
    # A runtime's default a task could not ask for is a configuration error.
    override.write_text('[caps]\nmemory_bytes = "128MiB"\n')
    with pytest.raises(ValueError, match="default memory_bytes exceeds the cap"):
        load_catalog(override)


def test_the_grpc_message_bound_fits_the_largest_cap() -> None:
    from voidrunner.common.grpc_server import MAX_MESSAGE_BYTES

    assert GRPC_MAX_MESSAGE_BYTES >= 2 * MAX_OUTPUT_CAP_BYTES
    assert MAX_MESSAGE_BYTES >= GRPC_MAX_MESSAGE_BYTES


def test_override_adds_changes_and_disables(tmp_path: Path) -> None:
    override = tmp_path / "runtimes.toml"
    override.write_text(
        """
[runtimes.python.limits]
memory_bytes = "512MiB"

[runtimes.bash]
enabled = false

[runtimes.ruby]
version_command = ["ruby", "--version"]
source_file = "main.rb"
run = ["ruby", "{source}"]
host_binaries = ["ruby"]
""",
        encoding="utf-8",
    )
    catalog = load_catalog(override)
    assert "bash" not in catalog
    python = catalog.get("python")
    assert python.default_limits.memory_bytes == 512 * MiB
    assert python.default_limits.timeout_seconds == 300.0
    assert python.run[0] == "python3"
    ruby = catalog.get("ruby")
    assert ruby.language == "ruby"
    assert ruby.image == "voidrunner/sandbox-ruby:latest"
    assert ruby.default_limits == Limits()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('[runtimes.python]\nrun = "python3"', "run must be a list"),
        ('[runtimes.python.limits]\nmemory_bytes = "lots"', "not a size"),
        ("[runtimes.python.limits]\npids = 0", "must be positive"),
        ("[runtimes.python.limits]\nswap = 1", "unknown limit"),
        ('[runtimes.python]\nsource_file = "../x.py"', "plain file name"),
        ('[runtimes.Bad]\nrun = ["x"]', "names are lowercase"),
    ],
)
def test_malformed_overrides_are_refused(tmp_path: Path, body: str, message: str) -> None:
    override = tmp_path / "runtimes.toml"
    override.write_text(body, encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        load_catalog(override)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("64", 64), ("64B", 64), ("4KiB", 4096), ("2M", 2 * MiB), ("1.5GiB", 1536 * MiB), (7, 7)],
)
def test_parse_size(text: str | int, expected: int) -> None:
    assert parse_size(text) == expected


def test_parse_limits_keeps_base_for_missing_fields() -> None:
    base = Limits(pids=10)
    limits = parse_limits({"timeout_seconds": 3, "cpu": "0.5"}, base=base)
    assert limits == Limits(pids=10, timeout_seconds=3.0, cpu=0.5)


def test_with_runtime_returns_a_new_catalogue() -> None:
    catalog = load_catalog()
    bogus = catalog.get("bash")
    extended = catalog.with_runtime(
        type(bogus)(
            name="fake",
            language="fake",
            version="0",
            version_command=("fake",),
            source_file="x",
            run=("fake",),
            host_binaries=("fake",),
            image="img",
            default_limits=Limits(),
        )
    )
    assert "fake" in extended
    assert "fake" not in catalog
    assert [spec.name for spec in extended] == ["bash", "fake", "go", "javascript", "python"]

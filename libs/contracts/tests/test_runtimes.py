"""The runtime catalogue: bundled entries, operator overrides, validation, placeholders."""

from __future__ import annotations

from dataclasses import replace
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


LANGUAGES = [
    "bash",
    "c",
    "cpp",
    "go",
    "java",
    "javascript",
    "pypy",
    "python",
    "ruby",
    "rust",
    "typescript",
]


def test_bundled_catalogue_has_every_shipped_language() -> None:
    catalog = load_catalog()
    assert catalog.names() == LANGUAGES
    assert len(catalog) == len(LANGUAGES)
    # Each names the Debian packages of its toolchain (an unavailable runtime's reason).
    for spec in catalog:
        assert spec.packages, spec.name
        assert "make runtimes" in spec.missing_reason(["x"])
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


def test_c_and_cpp_compile_every_source_file_with_libm() -> None:
    catalog = load_catalog()
    paths = Paths("/tmp", "main.c", sources=("main.c", "lib/util.c"), artifact="/tmp/main")
    c = catalog.get("c")
    assert c.compile is not None
    argv = c.compile.argv(paths)
    assert argv[0] == "gcc"
    assert argv[-4:] == ["/tmp/main", "/tmp/main.c", "/tmp/lib/util.c", "-lm"]
    cpp = catalog.get("cpp")
    assert [cpp.is_source(p) for p in ("a.cc", "b.cpp", "x.h")] == [True, True, False]


def test_java_runs_the_entry_files_class_and_typescript_the_emitted_js() -> None:
    catalog = load_catalog()
    java = catalog.get("java")
    assert java.compile is not None
    paths = Paths("/tmp", "Main.java", sources=("Main.java", "Util.java"), artifact="/s/classes")
    assert java.compile.argv(paths)[-4:] == ["-d", "/s/classes", "/tmp/Main.java", "/tmp/Util.java"]
    assert java.run_argv(paths)[-3:] == ["-cp", "/s/classes", "Main"]
    # The JVM is told the step's memory limit (it cannot see the sandbox's cgroup).
    assert "-XX:MaxRAM=300m" in java.run_argv(replace(paths, memory_mb=300))
    assert "-J-XX:MaxRAM=1024m" in java.compile.argv(replace(paths, memory_mb=1024))
    # ... and its CPUs, rounded up, so its threads do not follow the host's cores.
    step = paths.within(Limits(memory_bytes=300 * MiB, cpu=1.5))
    assert {"-XX:MaxRAM=300m", "-XX:ActiveProcessorCount=2"} <= set(java.run_argv(step))
    assert "-J-XX:ActiveProcessorCount=2" in java.compile.argv(step)
    assert java.default_limits.pids > Limits().pids  # the JVM's threads
    assert java.host_paths
    assert all(p.startswith("/etc/") for p in java.host_paths)
    ts = catalog.get("typescript")
    assert ts.run_argv(Paths("/tmp", "src/main.ts", artifact="/s/js")) == [
        "node",
        "/s/js/src/main.js",
    ]
    rust = catalog.get("rust")
    assert rust.compile is not None
    # rustc builds the crate from its root: the other files are its modules.
    assert rust.compile.argv(Paths("/tmp", "main.rs", ("main.rs", "util.rs"), "/t/main"))[-1] == (
        "/tmp/main.rs"
    )


@pytest.mark.parametrize(
    ("script_type", "version", "name"),
    [
        ("python", None, "python"),
        ("python", "3.11", "python"),
        ("python", "3", "python"),
        ("python", "3.9", "pypy"),
        ("pypy", None, "pypy"),
        ("py", None, "python"),
        ("js", None, "javascript"),
        ("node", None, "javascript"),
        ("ts", None, "typescript"),
        ("c++", None, "cpp"),
        ("cpp", None, "cpp"),
        ("golang", None, "go"),
        ("rs", None, "rust"),
        ("rb", None, "ruby"),
        ("sh", None, "bash"),
    ],
)
def test_script_types_versions_and_aliases_resolve(
    script_type: str, version: str | None, name: str
) -> None:
    assert load_catalog().resolve(script_type, version).name == name


def test_every_alias_is_a_script_type_and_means_one_runtime() -> None:
    catalog = load_catalog()
    owners: dict[str, str] = {}
    for spec in catalog:
        for alias in spec.aliases:
            assert alias not in owners, f"{alias} is an alias of {owners[alias]} and {spec.name}"
            assert alias not in catalog, alias
            owners[alias] = spec.name
    assert set(owners) <= set(catalog.script_types())
    with pytest.raises(
        UnknownRuntime, match=r"unknown version '2.7' of python \(known: 3.11, 3.9\)"
    ):
        catalog.resolve("python", "2.7")


def test_host_paths_must_be_absolute(tmp_path: Path) -> None:
    override = tmp_path / "runtimes.toml"
    override.write_text('[runtimes.java]\nhost_paths = ["etc/java"]\n')
    with pytest.raises(ValueError, match="host_paths must be absolute"):
        load_catalog(override)


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

[runtimes.lua]
version_command = ["lua", "-v"]
source_file = "main.lua"
run = ["lua", "{source}"]
host_binaries = ["lua"]
""",
        encoding="utf-8",
    )
    catalog = load_catalog(override)
    assert "bash" not in catalog
    python = catalog.get("python")
    assert python.default_limits.memory_bytes == 512 * MiB
    assert python.default_limits.timeout_seconds == 300.0
    assert python.run[0] == "python3"
    lua = catalog.get("lua")
    assert lua.language == "lua"
    assert lua.image == "voidrunner/sandbox-lua:latest"
    assert lua.default_limits == Limits()


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
    assert [spec.name for spec in extended] == sorted([*LANGUAGES, "fake"])


@pytest.mark.parametrize(("cpu", "whole"), [(0.1, 1), (1.0, 1), (1.01, 2), (2.5, 3), (4.0, 4)])
def test_a_steps_cpus_are_its_cpu_limit_rounded_up(cpu: float, whole: int) -> None:
    assert Limits(cpu=cpu).whole_cpus == whole
    assert Paths("/tmp", "Main.java").within(Limits(cpu=cpu)).fill(("-n={cpus}",)) == [
        f"-n={whole}"
    ]

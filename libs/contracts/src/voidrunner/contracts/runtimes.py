"""The runtime catalogue: languages as configuration, not code, and the one source of limits.

`load_catalog()` reads the bundled `runtimes.toml`; an operator file passed as `override` is merged
over it table by table (a runtime's scalar fields and argument lists are replaced, its `env` and
`limits` tables are merged key by key, new runtimes are added). The tasks service and every
executor load the same catalogue (the same override, VOIDRUNNER_RUNTIMES_FILE): a runtime's
`limits` are what a task that leaves them out gets (stored on the task when it is created, shown
by GET /runtimes), and `[caps]` is the most any task may ask for, which executors enforce again.
Each backend turns a `RuntimeSpec` into a command line by filling the placeholders (`{source}`,
`{artifact}`, `{workdir}`, ...; see `Paths`):

    catalog = load_catalog(Path("/etc/voidrunner/runtimes.toml"))
    spec = catalog.get("python")                    # UnknownRuntime when unknown
    argv = spec.run_argv(Paths(workdir="/tmp", entrypoint="main.py"))
    env = spec.environment(workdir="/tmp")
    catalog.caps.memory_bytes                       # the operator's cap
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields, replace
from importlib import resources
from pathlib import Path, PurePosixPath
from typing import Any

from voidrunner.contracts.output import MAX_OUTPUT_CAP_BYTES

__all__ = [
    "CompileSpec",
    "Limits",
    "Paths",
    "RuntimeCatalog",
    "RuntimeSpec",
    "UnknownRuntime",
    "load_catalog",
    "parse_limits",
    "parse_size",
]

MIB = 1024 * 1024


class UnknownRuntime(LookupError):
    """No runtime of that name is configured."""


@dataclass(frozen=True, slots=True)
class Limits:
    """Resource limits for one run (or the operator's caps on them)."""

    timeout_seconds: float = 10.0
    memory_bytes: int = 256 * 1024 * 1024
    cpu: float = 1.0
    max_output_bytes: int = 1024 * 1024
    pids: int = 64
    tmp_bytes: int = 64 * 1024 * 1024
    max_open_files: int = 256

    @property
    def memory_limit_mb(self) -> int:
        """The memory limit as the task field states it."""
        return self.memory_bytes // MIB

    @property
    def whole_cpus(self) -> int:
        """The CPU limit rounded up to whole CPUs (at least one): what a program that sizes
        thread pools by its CPU count may use."""
        return max(1, math.ceil(self.cpu))


_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]i?B?|B)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "B": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}
_LIST_PLACEHOLDER = "{sources}"
# The ways a runtime may be started ahead of demand (RuntimeSpec.warm_start); "" is none.
WARM_STARTS = frozenset({"", "python"})


def parse_size(value: int | float | str) -> int:
    """Bytes from an int or a text like "256MiB", "64M", "1.5GiB" (binary units)."""
    if isinstance(value, bool):
        raise ValueError(f"not a size: {value!r}")
    if isinstance(value, int | float):
        return int(value)
    match = _SIZE.match(value)
    if match is None:
        raise ValueError(f"not a size: {value!r}")
    unit = (match.group(2) or "").upper()[:1]
    return int(float(match.group(1)) * _UNITS[unit])


def parse_limits(table: Mapping[str, Any], base: Limits | None = None) -> Limits:
    """`Limits` from a TOML table (unknown keys are errors), missing fields taken from `base`."""
    base = base if base is not None else Limits()
    known = {f.name: f.type for f in fields(Limits)}
    values: dict[str, Any] = {}
    for key, raw in table.items():
        if key not in known:
            raise ValueError(f"unknown limit {key!r} (known: {', '.join(sorted(known))})")
        if key in ("timeout_seconds", "cpu"):
            values[key] = float(raw)
        elif key.endswith("_bytes"):
            values[key] = parse_size(raw)
        else:
            values[key] = int(raw)
        if values[key] <= 0:
            raise ValueError(f"limit {key} must be positive, got {raw!r}")
    return replace(base, **values)


# The operator's caps when the catalogue has no [caps] table.
DEFAULT_CAPS = Limits(
    timeout_seconds=3600.0,
    memory_bytes=2048 * MIB,
    cpu=4.0,
    max_output_bytes=16 * MIB,
    pids=256,
    tmp_bytes=1024 * MIB,
    max_open_files=1024,
)


@dataclass(frozen=True, slots=True)
class Paths:
    """Where a run's files are inside the sandbox: what the command placeholders stand for.

    {workdir}      the writable, size-capped work directory (the current directory)
    {source}       the entrypoint file (workdir/entrypoint)
    {sources}      every file with one of the runtime's source extensions (one argument each)
    {entry_stem}   the entrypoint's path without its extension (TypeScript's output, say)
    {entry_class}  the entrypoint's file name without its extension (a Java class)
    {artifact}     what the compile step writes and the run step executes
    {memory_mb}    the step's memory limit in MiB (a JVM sizes its heap from it: it cannot see
                   the sandbox's cgroup and would size it from the host's memory)
    {cpus}         the step's CPU limit rounded up to whole CPUs, at least 1 (a JVM sizes its
                   GC and JIT threads from it, which would otherwise follow the host's cores)
    """

    workdir: str
    entrypoint: str
    sources: tuple[str, ...] = ()
    artifact: str = ""
    memory_mb: int = 0
    cpus: int = 1

    def within(self, limits: Limits) -> Paths:
        """These paths for a step that runs under `limits` ({memory_mb} and {cpus})."""
        return replace(self, memory_mb=limits.memory_limit_mb, cpus=limits.whole_cpus)

    def fill(self, template: tuple[str, ...]) -> list[str]:
        """`template` with its placeholders filled in."""
        entry = PurePosixPath(self.entrypoint)
        values = {
            "{workdir}": self.workdir,
            "{source}": f"{self.workdir}/{self.entrypoint}",
            "{entry_stem}": str(entry.with_suffix("")),
            "{entry_class}": entry.stem,
            "{artifact}": self.artifact,
            "{memory_mb}": str(self.memory_mb),
            "{cpus}": str(self.cpus),
        }
        out: list[str] = []
        for arg in template:
            if arg == _LIST_PLACEHOLDER:
                out += [f"{self.workdir}/{path}" for path in self.sources]
                continue
            filled = arg
            for key, value in values.items():
                filled = filled.replace(key, value)
            out.append(filled)
        return out


@dataclass(frozen=True, slots=True)
class CompileSpec:
    """A build step that runs in its own sandbox before the run step, with its own limits.

    `artifact` is a file or directory (relative to the work dir) that the build leaves; it
    reaches the run step read-only under /sandbox, copied by content.
    """

    command: tuple[str, ...]
    artifact: str
    limits: Limits

    def argv(self, paths: Paths) -> list[str]:
        return paths.fill(self.command)


@dataclass(frozen=True, slots=True)
class RuntimeSpec:
    """One runtime (a language in one version): how to build and run it, and what it needs."""

    name: str
    language: str
    version: str
    version_command: tuple[str, ...]
    source_file: str
    run: tuple[str, ...]
    host_binaries: tuple[str, ...]
    image: str
    default_limits: Limits
    env: Mapping[str, str] = field(default_factory=dict)
    compile: CompileSpec | None = None
    aliases: tuple[str, ...] = ()
    # Files that are sources of this language ({sources}); the entry file's extension at least.
    source_extensions: tuple[str, ...] = ()
    # The Debian packages that hold the toolchain (named when it is missing).
    packages: tuple[str, ...] = ()
    # More host directories (absolute, outside /usr) the bwrap backend binds read-only where they
    # exist: a toolchain's configuration under /etc (the JDK's security and logging files).
    host_paths: tuple[str, ...] = ()
    # How a backend may start this runtime ahead of demand ("python": an interpreter that waits
    # for its program; see the bwrap backend's warm starts), or "" when it may not.
    warm_start: str = ""

    def missing_reason(self, missing: list[str] | tuple[str, ...]) -> str:
        """Why this runtime is unavailable when `missing` (host binaries) are not found."""
        reason = f"not installed on this host: {', '.join(missing)}"
        if self.packages:
            reason += f" (install the Debian package {', '.join(self.packages)}: make runtimes)"
        return reason

    def run_argv(self, paths: Paths) -> list[str]:
        """The run command line with placeholders filled in."""
        return paths.fill(self.run)

    def environment(self, *, workdir: str) -> dict[str, str]:
        """The runtime's own environment variables (e.g. GOCACHE) with `{workdir}` filled in."""
        return {k: v.replace("{workdir}", workdir) for k, v in self.env.items()}

    def is_source(self, path: str) -> bool:
        """True when `path` is one of this language's source files."""
        return PurePosixPath(path).suffix in self.source_extensions


class RuntimeCatalog:
    """An immutable name → `RuntimeSpec` mapping, with the operator's caps."""

    def __init__(self, runtimes: Mapping[str, RuntimeSpec], caps: Limits | None = None) -> None:
        self._runtimes = dict(runtimes)
        self.caps = caps if caps is not None else DEFAULT_CAPS

    def get(self, name: str) -> RuntimeSpec:
        """The runtime called `name`; raises UnknownRuntime when there is none."""
        spec = self._runtimes.get(name)
        if spec is None:
            known = ", ".join(sorted(self._runtimes)) or "none"
            raise UnknownRuntime(f"unknown runtime {name!r} (known: {known})")
        return spec

    def resolve(self, script_type: str, version: str | None = None) -> RuntimeSpec:
        """The runtime a task means: `script_type` is a runtime name, a language or an alias;
        `version` (exact, or a prefix at a dot: "3" for "3.11") picks among the language's
        versions, else the language's default (the runtime named after it, or its first).

        Raises UnknownRuntime naming what is known.
        """
        named = self._runtimes.get(script_type)
        matches = [
            s for s in self if script_type in (s.name, s.language) or script_type in s.aliases
        ]
        if not matches:
            known = ", ".join(self.script_types()) or "none"
            raise UnknownRuntime(f"unknown runtime {script_type!r} (known: {known})")
        if version:
            chosen = [s for s in matches if s.version == version] or [
                s for s in matches if s.version.startswith(f"{version}.")
            ]
            if named is not None and named in chosen:
                return named
            if not chosen:
                known = ", ".join(sorted({s.version for s in matches}))
                raise UnknownRuntime(
                    f"unknown version {version!r} of {script_type} (known: {known})"
                )
            return chosen[0]
        if named is not None:
            return named
        return next((s for s in matches if s.name == s.language), matches[0])

    def script_types(self) -> list[str]:
        """Every name a task may give as script_type: runtimes, languages and aliases."""
        names = {s.name for s in self} | {s.language for s in self}
        return sorted(names | {a for s in self for a in s.aliases})

    def names(self) -> list[str]:
        return sorted(self._runtimes)

    def __iter__(self) -> Iterator[RuntimeSpec]:
        return iter(self._runtimes[name] for name in self.names())

    def __len__(self) -> int:
        return len(self._runtimes)

    def __contains__(self, name: object) -> bool:
        return name in self._runtimes

    def with_runtime(self, spec: RuntimeSpec) -> RuntimeCatalog:
        """A copy with `spec` added or replaced (handy for tests and operator tooling)."""
        return RuntimeCatalog({**self._runtimes, spec.name: spec}, self.caps)


def _merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _str_list(table: Mapping[str, Any], key: str, where: str) -> tuple[str, ...]:
    value = table.get(key)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{where}: {key} must be a list of strings")
    return tuple(value)


def _str(table: Mapping[str, Any], key: str, where: str, default: str | None = None) -> str:
    value = table.get(key, default)
    if not isinstance(value, str) or not value:
        raise ValueError(f"{where}: {key} must be a non-empty string")
    return value


def _spec(name: str, table: Mapping[str, Any]) -> RuntimeSpec:
    where = f"runtime {name!r}"
    if not _NAME.match(name):
        raise ValueError(f"{where}: names are lowercase letters, digits, '-' and '_'")
    run = _str_list(table, "run", where)
    if not run:
        raise ValueError(f"{where}: run must not be empty")
    env = table.get("env", {})
    if not isinstance(env, Mapping) or not all(isinstance(v, str) for v in env.values()):
        raise ValueError(f"{where}: env must be a table of strings")
    limits = parse_limits(table.get("limits", {}))
    compile_spec = None
    if "compile" in table:
        step = table["compile"]
        compile_spec = CompileSpec(
            command=_str_list(step, "command", f"{where} compile"),
            artifact=_str(step, "artifact", f"{where} compile"),
            limits=parse_limits(step.get("limits", {}), base=limits),
        )
    source_file = _str(table, "source_file", where)
    if "/" in source_file or source_file.startswith("."):
        raise ValueError(f"{where}: source_file must be a plain file name")
    aliases = _str_list(table, "aliases", where) if "aliases" in table else ()
    packages = _str_list(table, "packages", where) if "packages" in table else ()
    host_paths = _str_list(table, "host_paths", where) if "host_paths" in table else ()
    for path in host_paths:
        pure = PurePosixPath(path)
        if not pure.is_absolute() or ".." in pure.parts or pure == PurePosixPath("/"):
            raise ValueError(f"{where}: host_paths must be absolute directories, got {path!r}")
    warm_start = str(table.get("warm_start", ""))
    if warm_start not in WARM_STARTS:
        raise ValueError(f"{where}: warm_start must be one of {sorted(WARM_STARTS)}")
    if warm_start and (compile_spec is not None or run[-1] != "{source}"):
        raise ValueError(
            f"{where}: warm_start needs an interpreted runtime whose run ends in {{source}}"
        )
    extensions = (
        _str_list(table, "source_extensions", where)
        if "source_extensions" in table
        else (PurePosixPath(source_file).suffix,)
    )
    return RuntimeSpec(
        name=name,
        language=_str(table, "language", where, default=name),
        version=str(table.get("version", "")),
        version_command=_str_list(table, "version_command", where),
        source_file=source_file,
        run=run,
        host_binaries=_str_list(table, "host_binaries", where),
        image=_str(table, "image", where, default=f"voidrunner/sandbox-{name}:latest"),
        default_limits=limits,
        env=dict(env),
        compile=compile_spec,
        aliases=aliases,
        source_extensions=extensions,
        packages=packages,
        host_paths=host_paths,
        warm_start=warm_start,
    )


def _bundled() -> dict[str, Any]:
    text = resources.files(__package__).joinpath("runtimes.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)


def load_catalog(override: Path | None = None) -> RuntimeCatalog:
    """The bundled catalogue, with the operator file `override` merged over it when given.

    An override entry with `enabled = false` removes that runtime. Raises ValueError (naming the
    runtime and field) on a malformed entry, and OSError when `override` cannot be read.
    """
    data = _bundled()
    if override is not None:
        data = _merge(data, tomllib.loads(override.read_text(encoding="utf-8")))
    tables = data.get("runtimes", {})
    if not isinstance(tables, Mapping):
        raise ValueError("[runtimes] must be a table")
    caps_table = data.get("caps", {})
    if not isinstance(caps_table, Mapping):
        raise ValueError("[caps] must be a table")
    caps = parse_limits(caps_table, base=DEFAULT_CAPS)
    if caps.max_output_bytes > MAX_OUTPUT_CAP_BYTES:
        raise ValueError(f"caps: max_output_bytes must be at most {MAX_OUTPUT_CAP_BYTES}")
    specs = {}
    for name, table in tables.items():
        if not isinstance(table, Mapping):
            raise ValueError(f"runtime {name!r} must be a table")
        if table.get("enabled", True) is False:
            continue
        spec = _spec(name, {k: v for k, v in table.items() if k != "enabled"})
        _check_within(spec, caps)
        specs[name] = spec
    return RuntimeCatalog(specs, caps)


def _check_within(spec: RuntimeSpec, caps: Limits) -> None:
    """A runtime's task defaults must be something a task may ask for."""
    for f in fields(Limits):
        if getattr(spec.default_limits, f.name) > getattr(caps, f.name):
            raise ValueError(f"runtime {spec.name!r}: default {f.name} exceeds the cap")

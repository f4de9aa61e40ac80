"""The runtime catalogue: languages as configuration, not code.

`load_catalog()` reads the bundled `runtimes.toml`; an operator file passed as `override` is merged
over it table by table (a runtime's scalar fields and argument lists are replaced, its `env` and
`limits` tables are merged key by key, new runtimes are added). Each backend turns a `RuntimeSpec`
into a command line by filling the placeholders `{source}`, `{artifact}` and `{workdir}`:

    catalog = load_catalog(Path("/etc/voidrunner/runtimes.toml"))
    spec = catalog.get("python")                    # RuntimeUnavailable when unknown
    argv = spec.run_argv(source="/sandbox/main.py", artifact="", workdir="/tmp")
    env = spec.environment(workdir="/tmp")
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields, replace
from importlib import resources
from pathlib import Path
from typing import Any

from voidrunner.executor.sandbox.types import Limits, RuntimeUnavailable

__all__ = [
    "CompileSpec",
    "RuntimeCatalog",
    "RuntimeSpec",
    "load_catalog",
    "parse_limits",
    "parse_size",
]

_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]i?B?|B)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "B": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}
_PLACEHOLDERS = ("source", "artifact", "workdir")


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


def _fill(template: tuple[str, ...], values: Mapping[str, str]) -> list[str]:
    out = []
    for arg in template:
        filled = arg
        for key in _PLACEHOLDERS:
            filled = filled.replace("{" + key + "}", values.get(key, ""))
        out.append(filled)
    return out


@dataclass(frozen=True, slots=True)
class CompileSpec:
    """A build step that runs in its own sandbox before the run step, with its own limits."""

    command: tuple[str, ...]
    artifact: str
    limits: Limits

    def argv(self, *, source: str, artifact: str, workdir: str) -> list[str]:
        return _fill(self.command, {"source": source, "artifact": artifact, "workdir": workdir})


@dataclass(frozen=True, slots=True)
class RuntimeSpec:
    """One runtime: how to build and run a source file, and what it needs from the host or image."""

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

    def run_argv(self, *, source: str, artifact: str, workdir: str) -> list[str]:
        """The run command line with placeholders filled in."""
        return _fill(self.run, {"source": source, "artifact": artifact, "workdir": workdir})

    def environment(self, *, workdir: str) -> dict[str, str]:
        """The runtime's own environment variables (e.g. GOCACHE) with `{workdir}` filled in."""
        return {k: v.replace("{workdir}", workdir) for k, v in self.env.items()}


class RuntimeCatalog:
    """An immutable name → `RuntimeSpec` mapping."""

    def __init__(self, runtimes: Mapping[str, RuntimeSpec]) -> None:
        self._runtimes = dict(runtimes)

    def get(self, name: str) -> RuntimeSpec:
        """The runtime called `name`; raises RuntimeUnavailable when there is none."""
        spec = self._runtimes.get(name)
        if spec is None:
            known = ", ".join(sorted(self._runtimes)) or "none"
            raise RuntimeUnavailable(f"unknown runtime {name!r} (known: {known})")
        return spec

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
        return RuntimeCatalog({**self._runtimes, spec.name: spec})


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
    specs = {}
    for name, table in tables.items():
        if not isinstance(table, Mapping):
            raise ValueError(f"runtime {name!r} must be a table")
        if table.get("enabled", True) is False:
            continue
        specs[name] = _spec(name, {k: v for k, v in table.items() if k != "enabled"})
    return RuntimeCatalog(specs)

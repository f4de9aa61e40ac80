"""What tasks may ask for, per runtime: the runtime catalogue as the tasks service applies it.

The catalogue (voidrunner.contracts.runtimes, the same file the executors load) is the one
source: a runtime's limits are the defaults a new task gets (stored on it), the catalogue's caps
the most any task may ask for. GET /api/v1/runtimes shows exactly these values (ListRuntimes).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from voidrunner.contracts.runtimes import Limits as RunLimits
from voidrunner.contracts.runtimes import RuntimeCatalog, RuntimeSpec, UnknownRuntime
from voidrunner.proto.tasks.v1 import tasks_pb2
from voidrunner.tasks.inputs import InputCaps
from voidrunner.tasks.validation import MAX_TIMEOUT, Limits

__all__ = ["Defaults", "RuntimePolicy"]


@dataclass(frozen=True, slots=True)
class Defaults:
    """The resource fields a task that leaves them out gets."""

    timeout_seconds: int
    memory_limit_mb: int
    cpu_limit: float
    max_output_bytes: int


def _task_fields(limits: RunLimits) -> Defaults:
    return Defaults(
        timeout_seconds=min(MAX_TIMEOUT, max(1, math.floor(limits.timeout_seconds))),
        memory_limit_mb=limits.memory_limit_mb,
        cpu_limit=limits.cpu,
        max_output_bytes=limits.max_output_bytes,
    )


class RuntimePolicy:
    """Per-runtime defaults and the operator's caps, from the runtime catalogue."""

    def __init__(self, catalog: RuntimeCatalog, inputs: InputCaps, max_batch: int = 20) -> None:
        self._catalog = catalog
        self._defaults = {spec.name: _task_fields(spec.default_limits) for spec in catalog}
        self.caps = _task_fields(catalog.caps)
        self.inputs = inputs
        self.max_batch = max_batch
        self.limits = Limits(
            runtimes=tuple(catalog.script_types()),
            max_timeout_seconds=self.caps.timeout_seconds,
            max_memory_limit_mb=self.caps.memory_limit_mb,
            max_cpu_limit=self.caps.cpu_limit,
            max_max_output_bytes=self.caps.max_output_bytes,
            inputs=inputs,
            resolve=self._problem,
        )

    def _problem(self, script_type: str, version: str | None) -> str:
        try:
            self._catalog.resolve(script_type, version)
        except UnknownRuntime as exc:
            return str(exc)
        return ""

    def runtime(self, script_type: str, version: str | None) -> RuntimeSpec:
        """The runtime (script_type, version) means; UnknownRuntime when none does now."""
        return self._catalog.resolve(script_type, version or None)

    def defaults(self, spec: RuntimeSpec) -> Defaults:
        """The task defaults of a runtime."""
        return self._defaults[spec.name]

    def message(self) -> tasks_pb2.ListRuntimesResponse:
        """The policy as ListRuntimes returns it."""
        return tasks_pb2.ListRuntimesResponse(
            runtimes=[
                tasks_pb2.RuntimePolicy(
                    name=spec.name,
                    language=spec.language,
                    version=spec.version,
                    defaults=_limits_message(self._defaults[spec.name]),
                    max=_limits_message(self.caps),
                    aliases=spec.aliases,
                )
                for spec in self._catalog
            ],
            max_files=self.inputs.max_files,
            max_files_bytes=self.inputs.max_files_bytes,
            max_test_cases=self.inputs.max_test_cases,
            max_batch=self.max_batch,
        )


def _limits_message(d: Defaults) -> tasks_pb2.RuntimeLimits:
    return tasks_pb2.RuntimeLimits(
        timeout_seconds=d.timeout_seconds,
        memory_limit_mb=d.memory_limit_mb,
        cpu_limit=d.cpu_limit,
        max_output_bytes=d.max_output_bytes,
    )

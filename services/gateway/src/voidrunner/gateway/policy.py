"""The runtime policy as the gateway knows it: which languages a task may use and its caps.

The tasks service is the authority (ListRuntimes, from the runtime catalogue); the gateway keeps
a copy for `policy_violations`, so that a request breaking both schema rules and policy rules
hears about all of them in one answer. The copy is refreshed when it is older than `max_age`
and is only consulted on the way to an error, never on a request that passes the schema (the
tasks service checks those itself).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from voidrunner.proto.tasks.v1 import tasks_pb2

if TYPE_CHECKING:
    from voidrunner.proto.tasks.v1.tasks_pb2_grpc import TasksServiceAsyncStub

__all__ = ["PolicyCache", "RuntimePolicy", "policy_violations"]

# Task fields the operator caps (named as in RuntimeLimits).
CAPPED = ("timeout_seconds", "memory_limit_mb", "cpu_limit", "max_output_bytes")


@dataclass(frozen=True, slots=True)
class RuntimePolicy:
    """The languages tasks may use (every script_type: runtime names, languages and aliases),
    and the most a task may ask for."""

    runtimes: tuple[str, ...]
    caps: Mapping[str, float]

    @classmethod
    def from_message(cls, msg: tasks_pb2.ListRuntimesResponse) -> RuntimePolicy:
        caps: dict[str, float] = {}
        for runtime in msg.runtimes:  # every runtime carries the same operator caps
            for name in CAPPED:
                caps[name] = getattr(runtime.max, name)
        names = {n for r in msg.runtimes for n in (r.name, r.language, *r.aliases) if n}
        return cls(tuple(sorted(names)), caps)


class PolicyCache:
    """The tasks service's policy, fetched on demand and kept for `max_age` seconds."""

    def __init__(
        self,
        tasks: TasksServiceAsyncStub,
        *,
        timeout: float,
        max_age: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._tasks = tasks
        self._timeout = timeout
        self._max_age = max_age
        self._clock = clock
        self._policy: RuntimePolicy | None = None
        self._fetched = 0.0
        self._lock = asyncio.Lock()

    async def get(self) -> RuntimePolicy | None:
        """The policy, or None when the tasks service cannot say (its own checks still run)."""
        async with self._lock:
            if self._policy is None or self._clock() - self._fetched > self._max_age:
                try:
                    msg = await self._tasks.ListRuntimes(
                        tasks_pb2.ListRuntimesRequest(), timeout=self._timeout
                    )
                except Exception:  # an unreachable tasks service: report what we know
                    return self._policy
                self._policy, self._fetched = RuntimePolicy.from_message(msg), self._clock()
            return self._policy


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def policy_violations(
    body: Mapping[str, Any], policy: RuntimePolicy, already: set[str]
) -> list[dict[str, str]]:
    """The policy rules a task body breaks, for fields not in `already` (failed elsewhere)."""
    found: list[dict[str, str]] = []
    runtime = body.get("script_type")
    if "script_type" not in already and isinstance(runtime, str) and runtime not in policy.runtimes:
        found.append(
            {
                "field": "script_type",
                "value": runtime[:100],
                "tag": "oneof",
                "message": f"script_type must be one of: {', '.join(policy.runtimes)}",
            }
        )
    for name in CAPPED:
        value: Any = body.get(name)
        cap = policy.caps.get(name)
        if name in already or cap is None or not _number(value) or value <= cap:
            continue
        found.append(
            {
                "field": name,
                "value": str(value),
                "tag": "max",
                "message": f"{name} must be at most {cap} (operator cap)",
            }
        )
    return found

"""GET /api/v1/runtimes: the languages tasks may use, their limits, what live executors offer."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from voidrunner.contracts.topology import RUNTIMES_BUCKET
from voidrunner.gateway.bucket_reads import bucket_values
from voidrunner.gateway.deps import Backends, CurrentUser, Deps
from voidrunner.gateway.errors import ApiError
from voidrunner.gateway.ratelimit import per_user
from voidrunner.gateway.routes.tasks import call
from voidrunner.gateway.schemas.common import ERROR_RESPONSES
from voidrunner.proto.tasks.v1 import tasks_pb2

router = APIRouter(prefix="/api/v1", tags=["runtimes"], responses=ERROR_RESPONSES)


class RuntimeLimits(BaseModel):
    """Limits named as the task fields they fill."""

    timeout_seconds: int
    memory_limit_mb: int
    cpu_limit: float
    max_output_bytes: int


class Runtime(BaseModel):
    name: str
    language: str
    version: str
    available: bool
    executors: int
    aliases: list[str] = Field(
        default_factory=list, description="More names a run may give as script_type"
    )
    reason: str | None = Field(
        default=None,
        description="Why it is unavailable: the executors' reason (e.g. the package to install)",
    )
    default_limits: RuntimeLimits = Field(
        description="What a task that leaves these fields out gets (stored on the task)"
    )
    max_limits: RuntimeLimits = Field(description="The most a task may ask for")


class RuntimeList(BaseModel):
    runtimes: list[Runtime]


def _limits(msg: tasks_pb2.RuntimeLimits) -> RuntimeLimits:
    return RuntimeLimits(
        timeout_seconds=msg.timeout_seconds,
        memory_limit_mb=msg.memory_limit_mb,
        cpu_limit=msg.cpu_limit,
        max_output_bytes=msg.max_output_bytes,
    )


def merge_runtimes(
    policies: Sequence[tasks_pb2.RuntimePolicy], entries: list[dict[str, Any]]
) -> list[Runtime]:
    """The tasks service's runtimes (limits as tasks get them) with what live executors offer.

    A runtime is available when any live executor offers it; its version is the executors'
    when they report one; an unavailable one says why (what the executors reported).
    """
    offered: dict[str, list[dict[str, Any]]] = {}
    for entry in entries:
        offered.setdefault(str(entry.get("name")), []).append(entry)
    runtimes = []
    for policy in policies:
        live = [e for e in offered.get(policy.name, []) if e.get("available")]
        versions = sorted({str(e["version"]) for e in live if e.get("version")})
        reasons = sorted(
            {str(e["reason"]) for e in offered.get(policy.name, []) if e.get("reason")}
        )
        reason = None if live else "; ".join(reasons) or "no live executor offers it"
        runtimes.append(
            Runtime(
                name=policy.name,
                language=policy.language,
                version=versions[-1] if versions else policy.version,
                available=bool(live),
                executors=len(live),
                aliases=list(policy.aliases),
                reason=reason,
                default_limits=_limits(policy.defaults),
                max_limits=_limits(policy.max),
            )
        )
    return sorted(runtimes, key=lambda r: r.name)


async def _advertisements(deps: Backends) -> list[dict[str, Any]]:
    if deps.nc is None:
        raise ApiError(503, "Service temporarily unavailable")
    return [json.loads(value) for value in await bucket_values(deps.nc, RUNTIMES_BUCKET)]


@router.get("/runtimes", response_model=RuntimeList, dependencies=[per_user("tasks")])
async def runtimes(_principal: CurrentUser, deps: Deps) -> RuntimeList:
    """Languages with versions, availability, and the default and maximum limits of a task."""
    policies, entries = await asyncio.gather(
        call(deps.tasks.ListRuntimes, tasks_pb2.ListRuntimesRequest(), deps),
        _advertisements(deps),
    )
    return RuntimeList(runtimes=merge_runtimes(policies.runtimes, entries))

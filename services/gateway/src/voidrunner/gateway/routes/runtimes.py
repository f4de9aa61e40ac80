"""GET /api/v1/runtimes: the languages this deployment's executors offer, with their limits."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter
from nats.js.errors import BucketNotFoundError, KeyNotFoundError, NoKeysError
from pydantic import BaseModel

from voidrunner.contracts.topology import RUNTIMES_BUCKET
from voidrunner.gateway.deps import CurrentUser, Deps
from voidrunner.gateway.errors import ApiError
from voidrunner.gateway.ratelimit import per_user
from voidrunner.gateway.schemas.common import ERROR_RESPONSES

router = APIRouter(prefix="/api/v1", tags=["runtimes"], responses=ERROR_RESPONSES)


class RuntimeLimits(BaseModel):
    timeout_seconds: float
    memory_mb: int
    cpu: float
    max_output_bytes: int
    pids: int
    tmp_mb: int


class Runtime(BaseModel):
    name: str
    language: str
    version: str
    available: bool
    executors: int
    default_limits: RuntimeLimits
    max_limits: RuntimeLimits


class RuntimeList(BaseModel):
    runtimes: list[Runtime]


def _limits(raw: dict[str, Any]) -> RuntimeLimits:
    mib = 1024 * 1024
    return RuntimeLimits(
        timeout_seconds=raw["timeout_seconds"],
        memory_mb=int(raw["memory_bytes"]) // mib,
        cpu=raw["cpu"],
        max_output_bytes=raw["max_output_bytes"],
        pids=raw["pids"],
        tmp_mb=int(raw["tmp_bytes"]) // mib,
    )


def merge_advertisements(entries: list[dict[str, Any]]) -> list[Runtime]:
    """One runtime per name: available when any live executor offers it."""
    by_name: dict[str, Runtime] = {}
    for entry in entries:
        name = entry["name"]
        seen = by_name.get(name)
        offers = bool(entry.get("available"))
        if seen is None or (offers and not seen.available):
            by_name[name] = Runtime(
                name=name,
                language=entry.get("language", name),
                version=entry.get("version", ""),
                available=offers,
                executors=(seen.executors if seen else 0) + int(offers),
                default_limits=_limits(entry["default_limits"]),
                max_limits=_limits(entry["max_limits"]),
            )
        elif offers:
            seen.executors += 1
    return sorted(by_name.values(), key=lambda r: r.name)


@router.get("/runtimes", response_model=RuntimeList, dependencies=[per_user("tasks")])
async def runtimes(_principal: CurrentUser, deps: Deps) -> RuntimeList:
    """Languages with versions, availability and default and maximum limits."""
    if deps.nc is None:
        raise ApiError(503, "Service temporarily unavailable")
    js = deps.nc.jetstream()
    try:
        kv = await js.key_value(RUNTIMES_BUCKET)
        keys = await kv.keys()
    except (BucketNotFoundError, NoKeysError):
        return RuntimeList(runtimes=[])
    entries = []
    for key in keys:
        try:
            entry = await kv.get(key)
        except KeyNotFoundError:  # expired between listing and reading
            entry = None
        if entry is not None and entry.value:
            entries.append(json.loads(entry.value))
    return RuntimeList(runtimes=merge_advertisements(entries))

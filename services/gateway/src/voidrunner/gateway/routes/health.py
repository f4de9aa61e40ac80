"""Liveness, readiness and ping."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from grpc_health.v1 import health_pb2, health_pb2_grpc
from pydantic import BaseModel

from voidrunner.common.supervision import Supervisor
from voidrunner.gateway.schemas.common import MessageBody

router = APIRouter(tags=["health"])


class HealthBody(BaseModel):
    status: str
    timestamp: dt.datetime
    uptime: float
    version: str
    service: str


class ReadyBody(BaseModel):
    status: str
    checks: dict[str, str]


@router.get("/health", response_model=HealthBody)
async def health(request: Request) -> HealthBody:
    """Liveness: the process serves HTTP."""
    state = request.app.state
    return HealthBody(
        status="ok",
        timestamp=dt.datetime.now(dt.UTC),
        uptime=round(time.monotonic() - state.started_at, 3),
        version=state.version,
        service="voidrunner-gateway",
    )


@router.get("/ready", response_model=ReadyBody, responses={503: {"model": ReadyBody}})
async def ready(request: Request) -> Any:
    """Readiness: the gateway's own loops (NATS, revocations, final notices) are up and every
    backend's gRPC health check answers SERVING; 503 names each check that failed."""
    probes: dict[str, Any] = request.app.state.readiness_probes
    names = list(probes)
    results = await asyncio.gather(*(probes[n]() for n in names), return_exceptions=True)
    checks = {
        n: ("ok" if r is True else "unavailable") for n, r in zip(names, results, strict=True)
    }
    ok = all(v == "ok" for v in checks.values())
    body = ReadyBody(status="ready" if ok else "not ready", checks=checks)
    return JSONResponse(body.model_dump(), status_code=200 if ok else 503)


@router.get("/api/v1/ping", response_model=MessageBody)
async def ping() -> MessageBody:
    """A cheap round trip for clients."""
    return MessageBody(message="pong")


def grpc_health_probe(stub: health_pb2_grpc.HealthStub, timeout: float = 1.0) -> Any:
    """A readiness probe calling grpc.health.v1 Check on a backend."""

    async def probe() -> bool:
        resp = await stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=timeout)
        return bool(resp.status == health_pb2.HealthCheckResponse.SERVING)

    return probe


def loop_probe(loops: Supervisor, name: str) -> Any:
    """A readiness probe: is the gateway's supervised loop `name` up."""

    async def probe() -> bool:
        return loops.health()[name].up

    return probe

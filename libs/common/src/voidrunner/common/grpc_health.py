"""grpc.health.v1 answered from the process's own state, read at every call.

The overall name "" and every registered service report one status: SERVING while the server
runs and its health source (the process's supervised loops) is healthy, NOT_SERVING otherwise.
One status for all names because a process's services share its loops: with the event recorder
down, no method of the tasks service is fully served. Nothing has to push a status here (no
background task to keep in step): Check reads the source, Watch waits for its next change.

One more name, `LIVENESS` ("liveness"), is SERVING whenever the server runs, whatever its loops
say: a liveness probe asks whether the process should be restarted, and a restart does not
bring NATS back (probing "" there would restart every pod through a NATS outage).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from typing import Any, Protocol

import grpc
from grpc_health.v1 import health_pb2

LIVENESS = "liveness"
_SERVING = health_pb2.HealthCheckResponse.SERVING
_NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


class HealthSource(Protocol):
    """What the status follows (a `Supervisor`)."""

    def healthy(self) -> bool: ...

    async def changed(self) -> None: ...


class HealthServicer:
    """Check, List and Watch for "" and `names`, following `source` (always healthy if None)."""

    def __init__(self, names: Iterable[str], source: HealthSource | None = None) -> None:
        self._names = frozenset(["", LIVENESS, *names])
        self._source = source
        self._serving = False
        self._shutdown = asyncio.Event()

    def start(self) -> None:
        """The server accepts calls: report the source's status from now on."""
        self._serving = True

    def shut_down(self) -> None:
        """NOT_SERVING for good (the server is draining)."""
        self._serving = False
        self._shutdown.set()

    def status(self, name: str = "") -> health_pb2.HealthCheckResponse.ServingStatus.ValueType:
        """The status `name` reports now."""
        healthy = name == LIVENESS or self._source is None or self._source.healthy()
        return _SERVING if self._serving and healthy else _NOT_SERVING

    async def Check(
        self, request: health_pb2.HealthCheckRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> health_pb2.HealthCheckResponse:
        """The status of `request.service`; NOT_FOUND for a name this server does not serve."""
        if request.service not in self._names:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"unknown service {request.service!r}")
        return health_pb2.HealthCheckResponse(status=self.status(request.service))

    async def List(
        self, request: health_pb2.HealthListRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> health_pb2.HealthListResponse:
        """Every name with its status."""
        return health_pb2.HealthListResponse(
            statuses={n: health_pb2.HealthCheckResponse(status=self.status(n)) for n in self._names}
        )

    async def Watch(
        self, request: health_pb2.HealthCheckRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[health_pb2.HealthCheckResponse]:
        """The status now, then each change (SERVICE_UNKNOWN for a name not served here)."""
        if request.service not in self._names:
            yield health_pb2.HealthCheckResponse(
                status=health_pb2.HealthCheckResponse.SERVICE_UNKNOWN
            )
            await self._shutdown.wait()
            return
        last = None
        while True:
            status = self.status(request.service)
            if status != last:
                yield health_pb2.HealthCheckResponse(status=status)
                last = status
            if self._shutdown.is_set():
                return
            await self._next_change()

    async def _next_change(self) -> None:
        waits: list[asyncio.Future[object]] = [asyncio.ensure_future(self._shutdown.wait())]
        if self._source is not None:
            waits.append(asyncio.ensure_future(self._source.changed()))
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiting in waits:
                waiting.cancel()

"""The scheduler service's composition root."""

from __future__ import annotations

from nats.aio.client import Client as NATS

from voidrunner.common.grpc_server import GrpcServer
from voidrunner.common.nats_client import connect_nats, drain_nats
from voidrunner.scheduler.settings import SchedulerSettings


class SchedulerApp:
    """Connects to NATS and serves gRPC health; `start()` returns the health port."""

    def __init__(self, settings: SchedulerSettings) -> None:
        self.settings = settings
        self._nc: NATS | None = None
        self._server: GrpcServer | None = None

    async def start(self) -> int:
        s = self.settings
        self._nc = await connect_nats(s.nats_url, name="voidrunner-scheduler")
        self._server = GrpcServer(
            host=s.scheduler_health_host,
            port=s.scheduler_health_port,
            registrations=[],
            service_names=[],
        )
        return await self._server.start()

    async def stop(self) -> None:
        """Stop serving, then drain NATS."""
        if self._server is not None:
            await self._server.stop(self.settings.shutdown_grace_seconds)
        if self._nc is not None:
            await drain_nats(self._nc)

"""A gRPC server with health, reflection, our interceptors and a graceful stop."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from voidrunner.common.grpc_channel import RequestIdChannel
from voidrunner.common.grpc_interceptors import ServerInterceptor
from voidrunner.common.logs import get_logger

_log = get_logger("voidrunner.grpc")

# 16 MiB: a task carries up to 64 KiB of script, 1 MiB of stdin and two 1 MiB+ output streams.
MAX_MESSAGE_BYTES = 16 * 1024 * 1024
_CHANNEL_OPTIONS = [
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
]


class GrpcServer:
    """One grpc.aio server: `start()` binds and serves, `stop(grace)` drains in-flight calls."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        registrations: Iterable[Callable[[grpc.aio.Server], None]],
        service_names: Iterable[str],
    ) -> None:
        self._server = grpc.aio.server(interceptors=[ServerInterceptor()], options=_CHANNEL_OPTIONS)
        for register in registrations:
            register(self._server)
        self._health = health.aio.HealthServicer()  # type: ignore[attr-defined]
        health_pb2_grpc.add_HealthServicer_to_server(self._health, self._server)
        self._names = list(service_names)
        reflection.enable_server_reflection(
            [*self._names, health.SERVICE_NAME, reflection.SERVICE_NAME], self._server
        )
        self._address = f"{host}:{port}"
        self.port = 0

    async def start(self) -> int:
        """Bind, start serving and mark every service SERVING. Returns the bound port."""
        self.port = self._server.add_insecure_port(self._address)
        if self.port == 0:
            msg = f"could not bind gRPC server to {self._address}"
            raise OSError(msg)
        await self._server.start()
        for name in ["", *self._names]:
            await self._health.set(name, health_pb2.HealthCheckResponse.SERVING)
        _log.info("grpc serving", address=self._address, port=self.port)
        return self.port

    async def stop(self, grace: float) -> None:
        """Report NOT_SERVING, then let in-flight calls finish for up to `grace` seconds."""
        await self._health.enter_graceful_shutdown()
        await self._server.stop(grace)
        _log.info("grpc stopped")


def insecure_channel(target: str) -> grpc.aio.Channel:
    """A client channel that propagates the request id and accepts our message sizes."""
    return RequestIdChannel(grpc.aio.insecure_channel(target, options=_CHANNEL_OPTIONS))

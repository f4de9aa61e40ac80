"""A gRPC server with health, reflection, our interceptors and a graceful stop."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import grpc
from grpc_health.v1 import health_pb2_grpc
from grpc_health.v1.health import SERVICE_NAME as HEALTH_SERVICE
from grpc_reflection.v1alpha import reflection

from voidrunner.common.grpc_access import AccessPolicy
from voidrunner.common.grpc_channel import RequestIdChannel
from voidrunner.common.grpc_health import HealthServicer, HealthSource
from voidrunner.common.grpc_interceptors import ServerInterceptor
from voidrunner.common.logs import get_logger
from voidrunner.common.service_tokens import ServiceSigner
from voidrunner.common.tracing import TRACING_OFF, Tracing

_log = get_logger("voidrunner.grpc")

# Deliberately above grpcio's 4 MiB default: an execution carries both output streams at up to
# the largest cap an operator may set (voidrunner.contracts.output.GRPC_MAX_MESSAGE_BYTES, which a
# test keeps below this).
MAX_MESSAGE_BYTES = 136 * 1024 * 1024
_CHANNEL_OPTIONS = [
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
]


class GrpcServer:
    """One grpc.aio server: `start()` binds and serves, `stop(grace)` drains in-flight calls.

    grpc.health.v1 reports SERVING for "" and `service_names` while `health` (the process's
    supervisor) is healthy, NOT_SERVING while any of its loops is down and from `stop()` on.
    With `access`, every other call must come from a service its table allows (grpc_access).
    """

    def __init__(
        self,
        *,
        host: str,
        port: int,
        registrations: Iterable[Callable[[grpc.aio.Server], None]],
        service_names: Iterable[str],
        health: HealthSource | None = None,
        access: AccessPolicy | None = None,
        tracing: Tracing = TRACING_OFF,
    ) -> None:
        self._server = grpc.aio.server(
            interceptors=[ServerInterceptor(access, tracing)], options=_CHANNEL_OPTIONS
        )
        for register in registrations:
            register(self._server)
        self._names = list(service_names)
        self._health = HealthServicer(self._names, health)
        health_pb2_grpc.add_HealthServicer_to_server(self._health, self._server)
        reflection.enable_server_reflection(
            [*self._names, HEALTH_SERVICE, reflection.SERVICE_NAME], self._server
        )
        self._address = f"{host}:{port}"
        self.port = 0

    async def start(self) -> int:
        """Bind and start serving; health follows its source from now on. Returns the port."""
        self.port = self._server.add_insecure_port(self._address)
        if self.port == 0:
            msg = f"could not bind gRPC server to {self._address}"
            raise OSError(msg)
        await self._server.start()
        self._health.start()
        _log.info("grpc serving", address=self._address, port=self.port)
        return self.port

    async def stop(self, grace: float) -> None:
        """Report NOT_SERVING, then let in-flight calls finish for up to `grace` seconds."""
        self._health.shut_down()
        await self._server.stop(grace)
        _log.info("grpc stopped")


def insecure_channel(target: str) -> grpc.aio.Channel:
    """A client channel that propagates the request id and accepts our message sizes (for
    health probes, which need no identity)."""
    return RequestIdChannel(grpc.aio.insecure_channel(target, options=_CHANNEL_OPTIONS))


def service_channel(target: str, signer: ServiceSigner, audience: str) -> grpc.aio.Channel:
    """A channel to the `audience` service at `target` whose calls carry `signer`'s token."""
    return RequestIdChannel(
        grpc.aio.insecure_channel(target, options=_CHANNEL_OPTIONS),
        token=lambda: signer.token_for(audience),
    )

"""A client channel that sends the current request id, the current span's traceparent (and the
caller's service token) with every unary call.

    token = lambda: signer.token_for("tasks")
    channel = RequestIdChannel(grpc.aio.insecure_channel(target), token=token)
    stub = TasksServiceStub(channel)  # each call carries x-request-id and authorization

Not a client interceptor: grpc.aio runs every intercepted call through an extra task and call
object, which cost about 100 µs of client CPU per call (300 against 200 µs measured here), on a
path where the gateway makes one call per request. Adding the metadata at the call is the same
effect for a dict lookup.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any

import grpc

from voidrunner.common.grpc_access import bearer
from voidrunner.common.request_context import REQUEST_ID_HEADER, current_request_id
from voidrunner.common.tracing import TRACEPARENT, current_traceparent

# Returns the token to send now (cached by the signer; renewed before it expires).
TokenSource = Callable[[], str]

__all__ = ["RequestIdChannel"]


class _WithRequestId(grpc.aio.UnaryUnaryMultiCallable):  # type: ignore[type-arg]
    """A unary method whose calls carry the current request id and the service token (after
    any metadata given)."""

    __slots__ = ("_inner", "_token")

    def __init__(
        self,
        inner: grpc.aio.UnaryUnaryMultiCallable,  # type: ignore[type-arg]
        token: TokenSource | None,
    ) -> None:
        self._inner = inner
        self._token = token

    def __call__(
        self,
        request: Any,
        timeout: float | None = None,
        metadata: grpc.aio.Metadata | Sequence[tuple[str, str | bytes]] | None = None,
        credentials: grpc.CallCredentials | None = None,
        wait_for_ready: bool | None = None,
        compression: grpc.Compression | None = None,
    ) -> grpc.aio.UnaryUnaryCall:  # type: ignore[type-arg]
        request_id = current_request_id()
        if request_id:
            metadata = (*(metadata or ()), (REQUEST_ID_HEADER, request_id))
        traceparent = current_traceparent()
        if traceparent is not None:
            metadata = (*(metadata or ()), (TRACEPARENT, traceparent))
        if self._token is not None:
            metadata = (*(metadata or ()), bearer(self._token()))
        return self._inner(
            request,
            timeout=timeout,
            metadata=metadata,
            credentials=credentials,
            wait_for_ready=wait_for_ready,
            compression=compression,
        )


class RequestIdChannel(grpc.aio.Channel):
    """Wraps a channel: unary-unary methods send the request id and, with `token`, the service
    token; the rest is delegated (our services' RPCs are all unary; health Watch needs none)."""

    def __init__(self, inner: grpc.aio.Channel, token: TokenSource | None = None) -> None:
        self._inner = inner
        self._token = token

    def unary_unary(self, *args: Any, **kwargs: Any) -> grpc.aio.UnaryUnaryMultiCallable:  # type: ignore[type-arg]
        return _WithRequestId(self._inner.unary_unary(*args, **kwargs), self._token)

    def unary_stream(self, *args: Any, **kwargs: Any) -> grpc.aio.UnaryStreamMultiCallable:  # type: ignore[type-arg]
        return self._inner.unary_stream(*args, **kwargs)

    def stream_unary(self, *args: Any, **kwargs: Any) -> grpc.aio.StreamUnaryMultiCallable:  # type: ignore[type-arg]
        return self._inner.stream_unary(*args, **kwargs)

    def stream_stream(self, *args: Any, **kwargs: Any) -> grpc.aio.StreamStreamMultiCallable:  # type: ignore[type-arg]
        return self._inner.stream_stream(*args, **kwargs)

    async def __aenter__(self) -> RequestIdChannel:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._inner.close(None)

    async def close(self, grace: float | None = None) -> None:
        await self._inner.close(grace)

    def get_state(self, try_to_connect: bool = False) -> grpc.ChannelConnectivity:
        return self._inner.get_state(try_to_connect)

    async def wait_for_state_change(self, last_observed_state: grpc.ChannelConnectivity) -> None:
        await self._inner.wait_for_state_change(last_observed_state)

    async def channel_ready(self) -> None:
        await self._inner.channel_ready()

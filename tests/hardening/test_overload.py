"""An overloaded backend that cancels calls makes the gateway answer 503, not 500.

Seen under the load run (1,000 clients on two cores, backends in the test process): the tasks
service cancelled calls it could not finish and the gateway answered 500 "Internal server
error". Here a stand-in tasks service cancels every call.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc
import httpx
import pytest

from tests.hardening.users import API, User

pytestmark = pytest.mark.hardening(suite="api/overload")


class _CancelEverything(grpc.GenericRpcHandler):  # type: ignore[type-arg]
    def service(self, _details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler:  # type: ignore[type-arg]
        async def cancelled(_request: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> None:
            await context.abort(grpc.StatusCode.CANCELLED, "overloaded")

        return grpc.unary_unary_rpc_method_handler(cancelled)


@pytest.fixture
async def tasks_addr() -> AsyncIterator[str]:
    """A tasks service that cancels every call (overrides the real one for this module)."""
    server = grpc.aio.server()
    server.add_generic_rpc_handlers((_CancelEverything(),))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    yield f"127.0.0.1:{port}"
    await server.stop(None)


async def test_cancelled_backend_calls_are_503(
    client: httpx.AsyncClient, alice: User, hardening_counters: Any
) -> None:
    resp = await client.get(f"{API}/tasks", headers=alice.auth)
    hardening_counters.add_5xx(resp.status_code == 500)
    assert resp.status_code == 503, resp.text
    assert resp.json() == {"error": "Service temporarily unavailable"}
    assert resp.headers["retry-after"] == "1"

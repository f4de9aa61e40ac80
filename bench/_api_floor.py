"""The API's floor for this architecture: the FastAPI + asyncpg baseline behind one empty gRPC hop.

    python -m bench._api_floor grpc <database url> <owner user id> <port> <token>
    python -m bench._api_floor http <grpc port> <port> <token>

Two processes, as the real path has a gateway and a tasks service: `http` (FastAPI on uvicorn,
uvloop, httptools) answers GET /api/v1/tasks/{id} by one unary gRPC call to `grpc`, which runs the
baseline's `get_task` query (by id and owner) through asyncpg and answers the row as JSON bytes.
The hop carries a bearer token in its metadata, checked by the server, over the same transport
the services use (plain HTTP/2 on loopback, grpcio's aio stack on both ends). Nothing else: no
token verification at the front, no rate limits, no protobuf mapping, no access rules — what our
gateway → tasks path costs beyond this is the cost of those.
"""

from __future__ import annotations

import hmac
import json
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import grpc
import uvloop
from fastapi import FastAPI, HTTPException, Response

from bench._api_baseline import GET_TASK, serve_http

METHOD = "/floor.Floor/GetTask"


async def serve_grpc(dsn: str, owner: uuid.UUID, port: int, token: str) -> None:
    """The back process: one unary method, raw bytes in (a task id) and out (the row's JSON)."""
    pool = await asyncpg.create_pool(dsn, min_size=10, max_size=10)
    expected = f"Bearer {token}".encode()

    async def get_task(request: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> bytes:
        sent = dict(context.invocation_metadata() or ()).get("authorization", "")
        if not hmac.compare_digest(str(sent).encode(), expected):
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "bad token")
        row = await pool.fetchrow(GET_TASK, uuid.UUID(bytes=request), owner)
        if row is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, "Task not found")
        body = dict(row)
        for key in ("metadata", "env"):
            if isinstance(body[key], str):
                body[key] = json.loads(body[key])
        return json.dumps(body, default=str).encode()

    handler = grpc.method_handlers_generic_handler(
        "floor.Floor", {"GetTask": grpc.unary_unary_rpc_method_handler(get_task)}
    )
    server = grpc.aio.server()
    server.add_generic_rpc_handlers((handler,))
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    await server.wait_for_termination()


def build_http(grpc_port: int, token: str) -> FastAPI:
    """The front process: FastAPI, one gRPC call per request."""
    calls: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{grpc_port}")
        calls["get"] = channel.unary_unary(METHOD, None, None)
        yield
        await channel.close(None)

    app = FastAPI(lifespan=lifespan)
    metadata = (("authorization", f"Bearer {token}"),)

    @app.get("/api/v1/tasks/{task_id}")
    async def get_task(task_id: uuid.UUID) -> Response:
        try:
            body = await calls["get"](task_id.bytes, metadata=metadata, timeout=10)
        except grpc.aio.AioRpcError as exc:
            if exc.code() is grpc.StatusCode.NOT_FOUND:
                raise HTTPException(404, "Task not found") from exc
            raise
        return Response(body, media_type="application/json")

    return app


if __name__ == "__main__":
    role = sys.argv[1]
    if role == "grpc":
        dsn, user, port, secret = sys.argv[2], uuid.UUID(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
        uvloop.run(serve_grpc(dsn, user, port, secret))
    else:
        back, port, secret = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
        serve_http(build_http(back, secret), port)

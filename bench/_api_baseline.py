"""The API baseline: one process, FastAPI + asyncpg, the tasks service's own lookup, no services.

    python -m bench._api_baseline <database url> <owner user id> <port>

GET /api/v1/tasks/{id} runs the same `get_task` query (by id and owner) on the same database
through a pool of the same size as the tasks service's, and answers the row as JSON — what the
gateway → gRPC → tasks path does minus token checks, rate limits and the hop between processes.
"""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import uvicorn
from fastapi import FastAPI, HTTPException

GET_TASK = """
SELECT id, user_id, name, description, script_content, script_type, status, priority,
       timeout_seconds, metadata, stdin, env, memory_limit_mb, cpu_limit, max_output_bytes,
       created_at, updated_at
FROM tasks WHERE id = $1 AND user_id = $2
"""


def build(dsn: str, owner: uuid.UUID) -> FastAPI:
    pool: dict[str, asyncpg.Pool] = {}

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        pool["db"] = await asyncpg.create_pool(dsn, min_size=10, max_size=10)
        yield
        await pool["db"].close()

    app = FastAPI(lifespan=lifespan)

    @app.get("/api/v1/tasks/{task_id}")
    async def get_task(task_id: uuid.UUID) -> dict[str, Any]:
        row = await pool["db"].fetchrow(GET_TASK, task_id, owner)
        if row is None:
            raise HTTPException(404, "Task not found")
        body = dict(row)
        for key in ("metadata", "env"):
            if isinstance(body[key], str):
                body[key] = json.loads(body[key])
        return body

    return app


def serve_http(app: FastAPI, port: int) -> None:
    """Serve `app` on loopback as the gateway is served (uvloop, httptools, no access log)."""
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        loop="uvloop",
        http="httptools",
        log_level="warning",
        access_log=False,
    )


if __name__ == "__main__":
    url, user, port = sys.argv[1], uuid.UUID(sys.argv[2]), int(sys.argv[3])
    serve_http(build(url, user), port)

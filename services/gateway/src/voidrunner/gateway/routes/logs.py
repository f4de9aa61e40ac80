"""GET /api/v1/executions/{id}/logs: Server-Sent Events of an execution's output."""

from __future__ import annotations

from collections.abc import AsyncIterator

from fastapi import APIRouter
from sse_starlette.sse import EventSourceResponse

from voidrunner.gateway.deps import CurrentUser, Deps
from voidrunner.gateway.errors import ApiError
from voidrunner.gateway.live import log_events
from voidrunner.gateway.ratelimit import per_user
from voidrunner.gateway.routes.executions import EXECUTION_ID
from voidrunner.gateway.routes.tasks import caller, parse_id
from voidrunner.gateway.schemas.common import ERROR_RESPONSES, ErrorBody
from voidrunner.proto.tasks.v1 import tasks_pb2

router = APIRouter(prefix="/api/v1/executions", tags=["executions"], responses=ERROR_RESPONSES)


@router.get(
    "/{execution_id}/logs",
    response_class=EventSourceResponse,
    dependencies=[per_user("executions")],
    responses={
        200: {
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
            "description": (
                "Events `stdout` and `stderr` (JSON: stream, seq, attempt, text) with what was "
                "produced so far, then live as it is produced, then one `end` event (JSON: "
                "status, exit_code, termination_reason). Finished executions replay their "
                "stored output."
            ),
        },
        404: {"model": ErrorBody, "description": "Execution not found"},
    },
)
async def execution_logs(
    execution_id: str, principal: CurrentUser, deps: Deps
) -> EventSourceResponse:
    """Stream an execution's output live (owner only)."""
    request = tasks_pb2.GetExecutionRequest(
        caller=caller(principal), id=parse_id(execution_id, EXECUTION_ID)
    )
    timeout = deps.settings.rpc_timeout_seconds

    async def get() -> tasks_pb2.Execution:
        return await deps.tasks.GetExecution(request, timeout=timeout)

    execution = await get()  # 404 for a missing or foreign execution, before streaming starts
    if deps.nc is None or deps.finals is None:
        raise ApiError(503, "Service temporarily unavailable")
    nc, finals = deps.nc, deps.finals

    async def events() -> AsyncIterator[dict[str, str]]:
        async for event in log_events(nc, finals, execution, get):
            yield event

    return EventSourceResponse(events(), ping=15, send_timeout=30)

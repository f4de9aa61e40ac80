"""GET /api/v1/executions/{id}/logs: Server-Sent Events of an execution's output.

Clients that can send headers authenticate with Authorization: Bearer. Browsers' EventSource
cannot, so `POST /api/v1/executions/{id}/logs/token` hands whoever may read the execution (its
owner, or a user its task is shared with: the token carries their email) a stream token (signed
by the auth service, good for this execution's logs only, for 60 s) to pass as `?stream_token=`.
The access log records the path only, never the query, so the token is not written down.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Header
from pydantic import BaseModel
from sse_starlette.sse import EventSourceResponse

from voidrunner.gateway.deps import CurrentUser, Deps, StreamUser, no_store
from voidrunner.gateway.errors import ApiError
from voidrunner.gateway.live import Position, log_events
from voidrunner.gateway.params import ExecutionId
from voidrunner.gateway.ratelimit import per_stream_user, per_user
from voidrunner.gateway.routes.tasks import call, caller
from voidrunner.gateway.schemas.common import ERROR_RESPONSES, ErrorBody
from voidrunner.proto.auth.v1 import auth_pb2
from voidrunner.proto.tasks.v1 import tasks_pb2

router = APIRouter(prefix="/api/v1/executions", tags=["executions"], responses=ERROR_RESPONSES)

_EVENTS = (
    "Events `stdout` and `stderr` (JSON: stream, seq, attempt, text, and base64 when the text "
    "is not the exact bytes) with what was produced so far, then live as it is produced, then "
    "one `end` event (JSON: status, return_code or exit_signal, termination_reason, attempt, "
    'seq). Every event has the id "<attempt>:<seq>": reconnecting with Last-Event-ID resumes '
    "after it without duplicates or gaps, and a new attempt (after a redelivery) starts again "
    "at seq 1. Finished executions replay their stored output with the same ids."
)


class StreamTokenBody(BaseModel):
    stream_token: str
    expires_in: int


@router.get(
    "/{execution_id}/logs",
    response_class=EventSourceResponse,
    dependencies=[per_stream_user("executions")],
    responses={
        200: {
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
            "description": _EVENTS,
        },
        404: {"model": ErrorBody, "description": "Execution not found"},
    },
)
async def execution_logs(
    execution_id: ExecutionId,
    principal: StreamUser,
    deps: Deps,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
) -> EventSourceResponse:
    """Stream an execution's output live (its owner, and users its task is shared with).

    A stream of a user the task is shared with ends within a second of the share's revocation
    (an `error` event, then the end of the response)."""
    eid = str(execution_id)
    get_request = tasks_pb2.GetExecutionRequest(
        caller=caller(principal), id=eid, with_output_layout=True
    )
    timeout = deps.settings.rpc_timeout_seconds

    async def get() -> tasks_pb2.Execution:
        return await deps.tasks.GetExecution(get_request, timeout=timeout)

    execution = await call(deps.tasks.GetExecution, get_request, deps)  # 404 before streaming
    if deps.nc is None or deps.finals is None:
        raise ApiError(503, "Service temporarily unavailable")
    nc, finals, after = deps.nc, deps.finals, Position.parse(last_event_id)

    # A non-owner may lose access while watching: their stream checks it again as it goes.
    shared = execution.user_id != str(principal.user_id)

    async def events() -> AsyncIterator[dict[str, str]]:
        async for event in log_events(nc, finals, execution, get, after, recheck_access=shared):
            yield event

    return EventSourceResponse(events(), ping=15, send_timeout=30)


@router.post(
    "/{execution_id}/logs/token",
    response_model=StreamTokenBody,
    dependencies=[per_user("executions"), Depends(no_store)],
    responses={404: {"model": ErrorBody, "description": "Execution not found"}},
)
async def stream_token(
    execution_id: ExecutionId, principal: CurrentUser, deps: Deps
) -> StreamTokenBody:
    """A 60-second token that opens this execution's log stream, and nothing else."""
    eid = str(execution_id)
    # The access check: an execution neither theirs nor shared with them is a 404 here too.
    await call(
        deps.tasks.GetExecution,
        tasks_pb2.GetExecutionRequest(caller=caller(principal), id=eid),
        deps,
    )
    issued = await deps.auth.IssueStreamToken(
        auth_pb2.IssueStreamTokenRequest(
            user_id=str(principal.user_id),
            execution_id=eid,
            session_id=principal.session_id,
            email=principal.email,
        ),
        timeout=deps.settings.rpc_timeout_seconds,
    )
    return StreamTokenBody(stream_token=issued.token, expires_in=issued.expires_in)

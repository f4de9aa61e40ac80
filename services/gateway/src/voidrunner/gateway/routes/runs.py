"""/api/v1/runs: one-shot runs (Piston's /execute), one at a time or in batches.

A run takes a task's fields (no name, description or metadata) and starts an execution that
belongs to no task; `?wait=N` answers once it is final (or after N seconds). A batch validates
every run first: one invalid run is a 400 naming its index, and nothing starts; otherwise each
run counts as one start against the rate limits and the executions come back in order.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from voidrunner.gateway.deps import CurrentUser, Deps
from voidrunner.gateway.errors import ApiError
from voidrunner.gateway.execution_view import execution_body
from voidrunner.gateway.params import Wait
from voidrunner.gateway.ratelimit import counted_in_route, enforce, per_user
from voidrunner.gateway.routes.executions import awaited
from voidrunner.gateway.routes.tasks import call, caller, fields_of
from voidrunner.gateway.schemas.common import ERROR_RESPONSES
from voidrunner.gateway.schemas.executions import Execution
from voidrunner.gateway.schemas.tasks import RunFields
from voidrunner.proto.tasks.v1 import tasks_pb2

router = APIRouter(prefix="/api/v1/runs", tags=["runs"], responses=ERROR_RESPONSES)
MAX_BATCH_SANE = 1000


class RunBatch(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)
    runs: Annotated[list[RunFields], Field(min_length=1, max_length=MAX_BATCH_SANE)]


class RunBatchResult(BaseModel):
    executions: list[Execution]
    webhook_secret: str | None = Field(
        default=None,
        description="The caller's new signing secret, when a run's callback_url created it "
        "(shown once).",
    )


def _given(body: RunFields) -> set[str]:
    return set(body.model_fields_set)


def _strip_index(exc: ApiError) -> None:
    """A single run's field errors name its fields, not `runs.0.` ones."""
    for item in exc.extra.get("validation_errors", []):
        item["field"] = str(item["field"]).removeprefix("runs.0.")


@router.post(
    "",
    status_code=201,
    response_model=Execution,
    response_model_exclude_none=True,
    dependencies=[per_user("execution_start")],
)
async def create_run(
    body: RunFields, response: Response, principal: CurrentUser, deps: Deps, wait: Wait = 0
) -> Execution:
    """Run code without saving a task: an execution whose `task_id` is omitted."""
    who = caller(principal)
    request = tasks_pb2.CreateRunsRequest(caller=who, runs=[fields_of(body, _given(body))])
    try:
        created = await call(deps.tasks.CreateRuns, request, deps)
    except ApiError as exc:
        _strip_index(exc)
        raise
    execution = created.executions[0]
    response.headers["Location"] = f"/api/v1/executions/{execution.id}"
    body_out = execution_body(await awaited(deps, who, execution, wait))
    if created.webhook_secret:
        body_out.webhook_secret = created.webhook_secret
    return body_out


@router.post(
    "/batch",
    status_code=201,
    response_model=RunBatchResult,
    response_model_exclude_none=True,
    dependencies=[Depends(counted_in_route)],
)
async def create_runs(
    body: RunBatch, request: Request, response: Response, principal: CurrentUser, deps: Deps
) -> RunBatchResult:
    """Several one-shot runs at once, each independent; their executions in order."""
    await enforce(
        request, deps, "execution_start", f"user:{principal.user_id}", cost=len(body.runs)
    )
    message = tasks_pb2.CreateRunsRequest(
        caller=caller(principal), runs=[fields_of(run, _given(run)) for run in body.runs]
    )
    created = await call(deps.tasks.CreateRuns, message, deps)
    # The created resources, as one list URL.
    ids = ",".join(e.id for e in created.executions)
    response.headers["Location"] = f"/api/v1/executions?ids={ids}"
    return RunBatchResult(
        executions=[execution_body(e) for e in created.executions],
        webhook_secret=created.webhook_secret or None,
    )

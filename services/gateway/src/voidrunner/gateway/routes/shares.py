"""/api/v1/tasks/{id}/shares: the task's owner shares it by email, lists and revokes shares; a
user it is shared with may leave it (remove their own share).

A share names an email, never a user: its answers are the same whether or not the email has an
account (there is no account oracle), and it takes effect when that email's user signs in, now
or after registering. Only the owner may call these (but for leaving); a user the task is shared
with gets 403 (they see the task), anyone else 404 as for a task that does not exist.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Response

from voidrunner.contracts.shares import ShareRole
from voidrunner.gateway.deps import CurrentUser, Deps
from voidrunner.gateway.params import ShareEmail, TaskId
from voidrunner.gateway.ratelimit import per_user
from voidrunner.gateway.routes.tasks import call, caller
from voidrunner.gateway.schemas.common import ERROR_RESPONSES, ErrorBody, MessageBody
from voidrunner.gateway.schemas.shares import Share, ShareCreate, ShareList
from voidrunner.proto.tasks.v1 import tasks_pb2

router = APIRouter(prefix="/api/v1/tasks", tags=["sharing"], responses=ERROR_RESPONSES)

_REFUSED: dict[int | str, dict[str, Any]] = {
    403: {"model": ErrorBody, "description": "The task is shared with the caller, not theirs"},
    404: {"model": ErrorBody, "description": "Task not found"},
}


def share_body(s: tasks_pb2.Share) -> Share:
    """The public form of a share."""
    return Share(
        email=s.email,
        role=ShareRole(s.role),
        created_at=s.created_at.ToDatetime(tzinfo=dt.UTC),
        updated_at=s.updated_at.ToDatetime(tzinfo=dt.UTC),
    )


@router.get(
    "/{task_id}/shares",
    response_model=ShareList,
    responses=_REFUSED,
    dependencies=[per_user("tasks")],
)
async def list_shares(task_id: TaskId, principal: CurrentUser, deps: Deps) -> ShareList:
    """Who the caller's task is shared with, and in which role."""
    request = tasks_pb2.ListSharesRequest(caller=caller(principal), task_id=str(task_id))
    resp = await call(deps.tasks.ListShares, request, deps)
    return ShareList(shares=[share_body(s) for s in resp.shares])


@router.post(
    "/{task_id}/shares",
    status_code=201,
    response_model=Share,
    responses={
        200: {"model": Share, "description": "The email had a share: its role is now this one"},
        **_REFUSED,
        409: {"model": ErrorBody, "description": "The task is shared with 100 users already"},
    },
    dependencies=[per_user("tasks")],
)
async def share_task(
    task_id: TaskId, body: ShareCreate, response: Response, principal: CurrentUser, deps: Deps
) -> Share:
    """Share the caller's task with an email as `viewer` or `runner` (or change that role).

    Sharing with one's own email is a 400 naming `email`.
    """
    request = tasks_pb2.PutShareRequest(
        caller=caller(principal), task_id=str(task_id), email=body.email, role=body.role.value
    )
    resp = await call(deps.tasks.PutShare, request, deps)
    if resp.created:
        response.headers["Location"] = f"{router.prefix}/{task_id}/shares"
    else:
        response.status_code = 200
    return share_body(resp.share)


@router.delete(
    "/{task_id}/shares",
    response_model=MessageBody,
    responses={
        403: {
            "model": ErrorBody,
            "description": "The task is shared with the caller, and `email` is not theirs",
        },
        404: {"model": ErrorBody, "description": "Task not found, or Share not found"},
    },
    dependencies=[per_user("tasks")],
)
async def unshare_task(
    task_id: TaskId, email: ShareEmail, principal: CurrentUser, deps: Deps
) -> MessageBody:
    """Revoke the share of `email` (the task's owner), or leave a task shared with you (your
    own `email`): from its next request that user no longer sees the task, and their open log
    streams of its executions end within a second."""
    request = tasks_pb2.DeleteShareRequest(
        caller=caller(principal), task_id=str(task_id), email=email
    )
    await call(deps.tasks.DeleteShare, request, deps)
    return MessageBody(message="Share removed successfully")

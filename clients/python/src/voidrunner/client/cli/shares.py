"""`voidrunner shares`: who your tasks are shared with (the tasks shared with you are
`voidrunner tasks list --shared`)."""

from __future__ import annotations

import enum
from typing import Annotated

import typer

from voidrunner.client.cli import output
from voidrunner.client.cli.common import Json, client, done, when

app = typer.Typer(help="Sharing your tasks with other users.", no_args_is_help=True)


class Role(enum.StrEnum):
    """The share roles, as typer's choices."""

    VIEWER = "viewer"
    RUNNER = "runner"


RoleOption = Annotated[
    Role,
    typer.Option(
        "--role",
        help="viewer: reads the task, its executions and logs; runner: also starts and cancels",
    ),
]


@app.command("list")
def shares_list(ctx: typer.Context, task_id: str, as_json: Json = False) -> None:
    """Who TASK is shared with, oldest share first."""
    with client(ctx) as vr:
        found = vr.shares.list(task_id)
    if as_json:
        output.as_json(found)
        return
    rows = [(s.email, s.role, when(s.created_at), when(s.updated_at)) for s in found]
    output.table(("EMAIL", "ROLE", "SHARED", "UPDATED"), rows)


@app.command("add")
def shares_add(
    ctx: typer.Context,
    task_id: str,
    email: str,
    role: RoleOption = Role.VIEWER,
    as_json: Json = False,
) -> None:
    """Share TASK with EMAIL (or change that email's role); it takes effect when that email
    signs in, now or after registering."""
    with client(ctx) as vr:
        share = vr.shares.put(task_id, email, "runner" if role is Role.RUNNER else "viewer")
    if as_json:
        output.as_json(share)
        return
    typer.echo(f"Shared task {task_id} with {share.email} as {share.role}")


@app.command("remove")
def shares_remove(ctx: typer.Context, task_id: str, email: str, as_json: Json = False) -> None:
    """Revoke EMAIL's share of TASK (their open log streams of it end within a second)."""
    with client(ctx) as vr:
        vr.shares.delete(task_id, email)
    done(as_json, f"Removed {email} from task {task_id}")

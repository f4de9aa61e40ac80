"""What every command module shares: the state main() passes down, the signed-in client, the
common options and the small formatting rules of tables."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Annotated, TypeVar

import typer

from voidrunner.client import Client
from voidrunner.client.cli import output
from voidrunner.client.cli.config import Settings

T = TypeVar("T")

Json = Annotated[bool, typer.Option("--json", help="Print JSON (for scripts)")]
Limit = Annotated[int, typer.Option("--limit", min=1, help="At most this many")]


class State:
    """What main() read from the environment and the command line, passed to every command."""

    def __init__(self, settings: Settings, program_args: list[str]) -> None:
        self.settings = settings
        self.program_args = program_args


def state(ctx: typer.Context) -> State:
    """The root command's state."""
    found = ctx.find_root().obj
    assert isinstance(found, State)
    return found


def client(ctx: typer.Context) -> Client:
    """A client signed in as the environment or the stored credentials say."""
    return state(ctx).settings.client()


def first(items: Iterable[T], limit: int) -> list[T]:
    """At most `limit` items (pages past them are not fetched)."""
    found: list[T] = []
    for item in items:
        found.append(item)
        if len(found) >= limit:
            break
    return found


def when(value: dt.datetime | None) -> str | None:
    """A timestamp as tables show it (UTC, to the second)."""
    return None if value is None else value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def done(as_json: bool, message: str) -> None:
    """A command's one-line outcome (a `message` object with --json)."""
    if as_json:
        output.as_json({"message": message})
    else:
        typer.echo(message)

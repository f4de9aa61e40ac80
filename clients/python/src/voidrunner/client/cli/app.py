"""`voidrunner`: sign in, run files, and manage tasks, executions, API keys, webhooks and
task shares from a shell (the last two in webhooks.py and shares.py).

Every command takes `--json`. Exit codes: `run` ends with the program's (see runner.py);
every other command 0 on success, 125 when the server, the credentials or the input are at
fault (a one-line `voidrunner: ...` message on stderr, never a traceback), 2 for bad usage.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import TypeAdapter
from pydantic import ValidationError as PydanticValidationError
from rich.console import Console

from voidrunner.client import (
    ApiError,
    Client,
    ConnectionFailed,
    Credentials,
    Execution,
    TestCase,
    Unauthorized,
    VoidRunnerError,
)
from voidrunner.client.cli import output, runner, shares, webhooks
from voidrunner.client.cli.common import Json, Limit, State
from voidrunner.client.cli.common import client as _client
from voidrunner.client.cli.common import done as _done
from voidrunner.client.cli.common import first as _first
from voidrunner.client.cli.common import state as _state
from voidrunner.client.cli.common import when as _when
from voidrunner.client.cli.config import DEFAULT_URL, Settings

app = typer.Typer(
    name="voidrunner",
    help="Run code on a VoidRunner server.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
tasks_app = typer.Typer(help="Saved tasks.", no_args_is_help=True)
executions_app = typer.Typer(help="Executions of tasks and one-shot runs.", no_args_is_help=True)
keys_app = typer.Typer(help="API keys.", no_args_is_help=True)
app.add_typer(tasks_app, name="tasks")
app.add_typer(executions_app, name="executions")
app.add_typer(keys_app, name="keys")
app.add_typer(webhooks.app, name="webhooks")
app.add_typer(shares.app, name="shares")


# sign-in


@app.command()
def login(
    ctx: typer.Context,
    url: Annotated[str | None, typer.Option(help=f"The server (default {DEFAULT_URL})")] = None,
    email: Annotated[str | None, typer.Option(help="Sign in as (prompted when not given)")] = None,
    key: Annotated[str | None, typer.Option("--key", help="Sign in with an API key vr_...")] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from stdin")
    ] = False,
    as_json: Json = False,
) -> None:
    """Sign in with email and password, or with an API key; kept in the config dir (0600)."""
    settings = _state(ctx).settings
    server = url or settings.url or DEFAULT_URL
    if key is not None:
        with Client(server, api_key=key) as client:
            user = client.auth.me()
        creds = Credentials(url=client.base_url, api_key=key, email=user.email)
    else:
        email = email or typer.prompt("Email")
        if password_stdin:
            password = sys.stdin.readline().rstrip("\r\n")
        else:
            password = typer.prompt("Password", hide_input=True)
        with Client(server) as client:
            user = client.auth.login(email, password).user
            creds = client.credentials
    settings.save(creds)
    if as_json:
        output.as_json(user)
    else:
        typer.echo(f"Signed in to {creds.url} as {user.email}")


@app.command()
def logout(ctx: typer.Context, as_json: Json = False) -> None:
    """End the session on the server and forget the stored credentials."""
    settings = _state(ctx).settings
    if settings.credentials_path.exists():
        # Signed out here all the same; the server's session expires by itself.
        with (
            contextlib.suppress(ApiError, ConnectionFailed),
            Client(settings.url, credentials_file=settings.credentials_path) as client,
        ):
            client.auth.logout()
        settings.credentials_path.unlink(missing_ok=True)
    if as_json:
        output.as_json({"message": "logged out"})
    else:
        typer.echo("Signed out")


@app.command()
def whoami(ctx: typer.Context, as_json: Json = False) -> None:
    """The signed-in user."""
    with _client(ctx) as client:
        user = client.auth.me()
        if as_json:
            output.as_json(user)
        else:
            typer.echo(f"{user.email} ({user.name}) on {client.base_url}")


# running


@app.command(context_settings={"allow_interspersed_args": True})
def run(
    ctx: typer.Context,
    files: Annotated[list[Path], typer.Argument(help="The program first, then files it needs")],
    lang: Annotated[
        str | None, typer.Option(help="The runtime (default: from the extension)")
    ] = None,
    version: Annotated[str | None, typer.Option(help="The runtime's version")] = None,
    stdin: Annotated[
        str | None, typer.Option("--stdin", help="Feed the program this file, or - for ours")
    ] = None,
    timeout: Annotated[int | None, typer.Option(min=1, help="Wall time limit in seconds")] = None,
    memory: Annotated[int | None, typer.Option(min=16, help="Memory limit in MiB")] = None,
    tests: Annotated[
        Path | None, typer.Option(help="A JSON file with a list of test cases")
    ] = None,
    as_json: Json = False,
) -> None:
    """Run FILE(s) once and stream the output; exits with the program's status.

    Program arguments go after `--`: voidrunner run main.py -- --verbose input.txt
    """
    request = runner.Request(
        files=files,
        lang=lang,
        version=version,
        timeout=timeout,
        memory=memory,
        args=_state(ctx).program_args,
        tests=_test_cases(tests) if tests else None,
    )
    with _client(ctx) as client:
        runtime = runner.pick_runtime(request, client.runtimes.list())
        spec = runner.run_spec(request, runtime, runner.read_stdin(stdin))
        execution = client.runs.create(spec)
        try:
            if as_json:
                done = client.executions.wait(execution.id)
                output.as_json(done)
                code = runner.exit_code(done)
            else:
                console = Console(stderr=True)
                streamer = runner.Streamer(sys.stdout.buffer, sys.stderr.buffer)
                done = runner.follow(client, execution, streamer, console)
                code = runner.finish(done, sys.stderr.buffer)
        except KeyboardInterrupt:
            client.executions.cancel(execution.id)
            raise typer.Exit(130) from None
    raise typer.Exit(code)


def _test_cases(path: Path) -> list[TestCase]:
    try:
        return TypeAdapter(list[TestCase]).validate_json(path.read_bytes())
    except OSError as exc:
        raise runner.BadInput(f"{path}: {exc.strerror}") from None
    except PydanticValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise runner.BadInput(
            f"{path}: not a list of test cases ({where}: {first['msg']})"
        ) from None


# tasks


@tasks_app.command("list")
def tasks_list(
    ctx: typer.Context,
    shared: Annotated[
        bool, typer.Option("--shared", help="The tasks others shared with you instead")
    ] = False,
    limit: Limit = 20,
    as_json: Json = False,
) -> None:
    """Your tasks (or, with --shared, those shared with you), newest first."""
    with _client(ctx) as client:
        tasks = client.tasks.list(shared="with_me" if shared else None, page_size=min(limit, 100))
        found = _first(tasks, limit)
    if as_json:
        output.as_json(found)
        return
    if shared:
        theirs = [
            (t.id, t.name, t.shared_role, t.user_id, t.script_type, _when(t.created_at))
            for t in found
        ]
        output.table(("ID", "NAME", "ROLE", "OWNER", "LANGUAGE", "CREATED"), theirs)
        return
    rows = [(t.id, t.name, t.script_type, t.status, _when(t.created_at)) for t in found]
    output.table(("ID", "NAME", "LANGUAGE", "STATUS", "CREATED"), rows)


@tasks_app.command("show")
def tasks_show(ctx: typer.Context, task_id: str, as_json: Json = False) -> None:
    """One task."""
    with _client(ctx) as client:
        task = client.tasks.get(task_id)
    if as_json:
        output.as_json(task)
        return
    output.fields(
        [
            ("id", task.id),
            ("name", task.name),
            ("description", task.description),
            ("language", task.script_type),
            ("status", task.status),
            ("timeout", f"{task.timeout_seconds} s"),
            ("memory", f"{task.memory_limit_mb} MiB"),
            ("callback", task.callback_url),
            ("shared as", task.shared_role),
            ("created", _when(task.created_at)),
        ]
    )


@tasks_app.command("delete")
def tasks_delete(ctx: typer.Context, task_id: str, as_json: Json = False) -> None:
    """Delete a task."""
    with _client(ctx) as client:
        client.tasks.delete(task_id)
    _done(as_json, f"Deleted task {task_id}")


# executions


@executions_app.command("list")
def executions_list(
    ctx: typer.Context,
    task: Annotated[str | None, typer.Option(help="Only this task's")] = None,
    limit: Limit = 20,
    as_json: Json = False,
) -> None:
    """Executions, newest first."""
    with _client(ctx) as client:
        found = _first(client.executions.list(task_id=task, page_size=min(limit, 100)), limit)
    if as_json:
        output.as_json(found)
        return
    rows = [(e.id, e.script_type, e.status, _ending(e), _when(e.created_at)) for e in found]
    output.table(("ID", "LANGUAGE", "STATUS", "ENDED", "CREATED"), rows)


@executions_app.command("show")
def executions_show(ctx: typer.Context, execution_id: str, as_json: Json = False) -> None:
    """One execution, with its output."""
    with _client(ctx) as client:
        execution = client.executions.get(execution_id)
    if as_json:
        output.as_json(execution)
        return
    output.fields(
        [
            ("id", execution.id),
            ("task", execution.task_id),
            ("language", execution.script_type),
            ("status", execution.status),
            ("ended", _ending(execution)),
            ("time", f"{execution.execution_time_ms} ms" if execution.execution_time_ms else None),
            ("verdict", execution.verdict),
            ("created", _when(execution.created_at)),
        ]
    )
    for name, text in (("stdout", execution.stdout), ("stderr", execution.stderr)):
        if text:
            typer.echo(f"--- {name}\n{text}", nl=not text.endswith("\n"))


@executions_app.command("cancel")
def executions_cancel(ctx: typer.Context, execution_id: str, as_json: Json = False) -> None:
    """Stop a pending or running execution."""
    with _client(ctx) as client:
        client.executions.cancel(execution_id)
    _done(as_json, f"Cancelled execution {execution_id}")


@executions_app.command("logs")
def executions_logs(
    ctx: typer.Context,
    execution_id: str,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Until it ends")] = False,
    as_json: Json = False,
) -> None:
    """An execution's output: what is stored, or (--follow) live until it ends."""
    with _client(ctx) as client:
        if not follow:
            execution = client.executions.get(execution_id)
            if as_json:
                output.as_json({"stdout": execution.stdout or "", "stderr": execution.stderr or ""})
                return
            streamer = runner.Streamer(sys.stdout.buffer, sys.stderr.buffer)
            for name in ("stdout", "stderr"):
                streamer.write(_stored(execution, name))
            return
        streamer = runner.Streamer(sys.stdout.buffer, sys.stderr.buffer)
        for event in client.executions.logs(execution_id):
            if as_json:
                sys.stdout.write(event.model_dump_json(exclude_none=True) + "\n")
                sys.stdout.flush()
            else:
                streamer.write(event)


def _stored(execution: Execution, name: str) -> Any:
    from voidrunner.client import LogEvent

    encoded = getattr(execution, f"{name}_base64")
    return LogEvent(event=name, text=getattr(execution, name) or "", base64=encoded)


# runtimes


@app.command()
def runtimes(ctx: typer.Context, as_json: Json = False) -> None:
    """The languages the server runs."""
    with _client(ctx) as client:
        found = client.runtimes.list()
    if as_json:
        output.as_json(found)
        return
    rows = [
        (
            r.name,
            ", ".join(r.aliases) or None,
            r.version,
            "yes" if r.available else "no",
            f"{r.max_limits.timeout_seconds} s",
            # Last: the reason is the long cell (it names the package to install).
            None if r.available else r.reason,
        )
        for r in found
    ]
    output.table(("NAME", "ALIASES", "VERSION", "AVAILABLE", "MAX TIME", "REASON"), rows)


# API keys


@keys_app.command("create")
def keys_create(
    ctx: typer.Context,
    name: str,
    scope: Annotated[
        list[str], typer.Option("--scope", help="read, run, manage or admin (repeatable)")
    ] = ["read"],  # noqa: B006 - typer reads the default, nothing mutates it
    expires: Annotated[
        str | None, typer.Option(help="RFC 3339 UTC expiry, e.g. 2027-01-01T00:00:00Z")
    ] = None,
    as_json: Json = False,
) -> None:
    """A new API key; it is printed only this once."""
    scopes = _scopes(scope)
    expires_at = _timestamp(expires) if expires else None
    with _client(ctx) as client:
        created = client.api_keys.create(name, scopes, expires_at=expires_at)
    if as_json:
        output.as_json(created)
        return
    typer.echo(created.key)
    typer.echo(f"({created.name}, {', '.join(created.scopes)}: shown only now)", err=True)


@keys_app.command("list")
def keys_list(ctx: typer.Context, limit: Limit = 100, as_json: Json = False) -> None:
    """Your live API keys, newest first."""
    with _client(ctx) as client:
        found = _first(client.api_keys.list(page_size=min(limit, 100)), limit)
    if as_json:
        output.as_json(found)
        return
    rows = [
        (k.id, k.name, k.prefix, ",".join(k.scopes), _when(k.expires_at), _when(k.last_used_at))
        for k in found
    ]
    output.table(("ID", "NAME", "PREFIX", "SCOPES", "EXPIRES", "LAST USED"), rows)


@keys_app.command("revoke")
def keys_revoke(ctx: typer.Context, key_id: str, as_json: Json = False) -> None:
    """Revoke an API key (it stops working at once)."""
    with _client(ctx) as client:
        client.api_keys.revoke(key_id)
    _done(as_json, f"Revoked API key {key_id}")


# helpers of the commands above

SCOPES = ("read", "run", "manage", "admin")


def _scopes(given: list[str]) -> Any:
    bad = [s for s in given if s not in SCOPES]
    if bad:
        raise runner.BadInput(f"unknown scope {bad[0]!r} (read, run, manage or admin)")
    return list(dict.fromkeys(given))


def _timestamp(text: str) -> dt.datetime:
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise runner.BadInput(f"not an RFC 3339 timestamp: {text}") from None
    if when.tzinfo is None:
        raise runner.BadInput(f"give the time zone (e.g. Z): {text}")
    return when.astimezone(dt.UTC)


def _ending(execution: Execution) -> str | None:
    if execution.exit_signal:
        return execution.exit_signal
    if execution.termination_reason not in {None, "exit"}:
        return execution.termination_reason
    return None if execution.return_code is None else f"exit {execution.return_code}"


def _fail(message: str, code: int = runner.PLATFORM_ERROR) -> int:
    sys.stderr.write(f"voidrunner: {message}\n")
    sys.stderr.flush()
    return code


def _describe(exc: BaseException) -> tuple[str, int]:
    """The line and exit code a failure is reported with."""
    if isinstance(exc, (typer.Abort, KeyboardInterrupt)):
        return "interrupted", 130
    if isinstance(exc, Unauthorized):
        return f"{exc.message()} (run `voidrunner login`, or check VOIDRUNNER_TOKEN)", 125
    if isinstance(exc, ApiError):
        return f"{exc.message()} (HTTP {exc.status})", 125
    if isinstance(exc, PydanticValidationError):
        return f"unexpected answer from the server: {exc.errors()[0]['msg']}", 125
    return str(exc) or type(exc).__name__, 125


def split_program_args(argv: list[str]) -> tuple[list[str], list[str]]:
    """`run`'s own arguments and, after the first `--`, the program's."""
    if argv[:1] == ["run"] and "--" in argv:
        cut = argv.index("--")
        return argv[:cut], argv[cut + 1 :]
    return argv, []


def main(argv: list[str] | None = None) -> int:
    """The console script: every failure is one line on stderr and an exit code."""
    ours, program_args = split_program_args(list(sys.argv[1:] if argv is None else argv))
    state = State(Settings.from_env(os.environ), program_args)
    code = 0
    try:
        # Standalone: usage errors get typer's message and exit 2, typer.Exit its code.
        app(args=ours, obj=state, prog_name="voidrunner")
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BrokenPipeError:  # `voidrunner ... | head`: the reader has all it wanted
        code = 0
    # ValueError: a body that is not JSON or not the model (pydantic's errors are ValueErrors).
    except (
        VoidRunnerError,
        runner.BadInput,
        TimeoutError,
        ValueError,
        typer.Abort,
        KeyboardInterrupt,
    ) as exc:
        message, code = _describe(exc)
        _fail(message, code)
    return code


if __name__ == "__main__":
    sys.exit(main())

"""`voidrunner webhooks`: endpoints your executions' events are POSTed to, their deliveries,
and the signing secret (printed only by the call that made it: `create` of the first webhook,
and `rotate-secret`)."""

from __future__ import annotations

import enum
from typing import Annotated

import typer

from voidrunner.client import CreatedWebhook, EventType, Webhook, WebhookUpdate
from voidrunner.client.cli import output
from voidrunner.client.cli.common import Json, Limit, client, done, first, when

app = typer.Typer(help="Webhooks: execution events POSTed to your endpoints.", no_args_is_help=True)


class Event(enum.StrEnum):
    """The event types, as typer's choices."""

    STARTED = "execution.started"
    COMPLETED = "execution.completed"
    FAILED = "execution.failed"
    TIMEOUT = "execution.timeout"
    CANCELLED = "execution.cancelled"


def _events(webhook: Webhook) -> str:
    return ",".join(e.removeprefix("execution.") for e in webhook.events) or "all"


def _show(webhook: Webhook) -> None:
    output.fields(
        [
            ("id", webhook.id),
            ("url", webhook.url),
            ("events", _events(webhook)),
            ("enabled", "yes" if webhook.enabled else "no"),
            ("disabled", webhook.disabled_reason),
            ("description", webhook.description or None),
            ("created", when(webhook.created_at)),
            ("updated", when(webhook.updated_at)),
        ]
    )


@app.command("list")
def webhooks_list(ctx: typer.Context, limit: Limit = 100, as_json: Json = False) -> None:
    """Your webhooks, newest first."""
    with client(ctx) as vr:
        found = first(vr.webhooks.list(page_size=min(limit, 100)), limit)
    if as_json:
        output.as_json(found)
        return
    rows = [
        (
            w.id,
            w.url,
            _events(w),
            "yes" if w.enabled else f"no ({w.disabled_reason})" if w.disabled_reason else "no",
            when(w.created_at),
        )
        for w in found
    ]
    output.table(("ID", "URL", "EVENTS", "ENABLED", "CREATED"), rows)


@app.command("create")
def webhooks_create(
    ctx: typer.Context,
    url: str,
    event: Annotated[
        list[Event] | None,
        typer.Option("--event", help="Deliver only this event (repeatable; default: every one)"),
    ] = None,
    description: Annotated[str | None, typer.Option(help="A note for yourself")] = None,
    disabled: Annotated[bool, typer.Option("--disabled", help="Create it switched off")] = False,
    as_json: Json = False,
) -> None:
    """Register URL. Your first webhook creates your signing secret: printed this once."""
    # Event's values are exactly the SDK's EventType literals (mypy sees them as such).
    events: list[EventType] = [e.value for e in dict.fromkeys(event or [])]
    with client(ctx) as vr:
        created = vr.webhooks.create(
            url, events=events, enabled=not disabled, description=description
        )
    if as_json:
        output.as_json(created)  # the secret, when there is one, is in it
    else:
        _show(created)
    _secret_note(created, as_json)


def _secret_note(created: CreatedWebhook, as_json: bool) -> None:
    if created.secret is None:
        typer.echo("(signed with your existing secret; `rotate-secret` makes a new one)", err=True)
        return
    if not as_json:
        typer.echo(f"secret:      {created.secret}")
    typer.echo(
        "(the signing secret of all your webhooks: shown only now, keep it with the receiver)",
        err=True,
    )


@app.command("show")
def webhooks_show(ctx: typer.Context, webhook_id: str, as_json: Json = False) -> None:
    """One webhook."""
    with client(ctx) as vr:
        webhook = vr.webhooks.get(webhook_id)
    if as_json:
        output.as_json(webhook)
    else:
        _show(webhook)


def _switch(ctx: typer.Context, webhook_id: str, enabled: bool, as_json: Json) -> None:
    with client(ctx) as vr:
        webhook = vr.webhooks.update(webhook_id, WebhookUpdate(enabled=enabled))
    if as_json:
        output.as_json(webhook)
    else:
        typer.echo(f"{'Enabled' if enabled else 'Disabled'} webhook {webhook.id}")


@app.command("enable")
def webhooks_enable(ctx: typer.Context, webhook_id: str, as_json: Json = False) -> None:
    """Switch a webhook on (clears its failure record; `redeliver` what it missed)."""
    _switch(ctx, webhook_id, True, as_json)


@app.command("disable")
def webhooks_disable(ctx: typer.Context, webhook_id: str, as_json: Json = False) -> None:
    """Switch a webhook off (its pending deliveries end as failed)."""
    _switch(ctx, webhook_id, False, as_json)


@app.command("delete")
def webhooks_delete(ctx: typer.Context, webhook_id: str, as_json: Json = False) -> None:
    """Delete a webhook: nothing more is sent to it."""
    with client(ctx) as vr:
        vr.webhooks.delete(webhook_id)
    done(as_json, f"Deleted webhook {webhook_id}")


@app.command("deliveries")
def webhooks_deliveries(
    ctx: typer.Context, webhook_id: str, limit: Limit = 20, as_json: Json = False
) -> None:
    """A webhook's deliveries, newest first, with the last attempt's answer."""
    with client(ctx) as vr:
        found = first(vr.webhooks.deliveries(webhook_id, page_size=min(limit, 100)), limit)
    if as_json:
        output.as_json(found)
        return
    rows = []
    for d in found:
        last = d.attempt_log[-1] if d.attempt_log else None
        answer = None if last is None else (last.status_code or last.error)
        rows.append(
            (d.id, d.event_type, d.state, d.attempts, answer, d.execution_id, when(d.created_at))
        )
    output.table(("ID", "EVENT", "STATE", "ATTEMPTS", "LAST", "EXECUTION", "CREATED"), rows)


@app.command("redeliver")
def webhooks_redeliver(
    ctx: typer.Context, webhook_id: str, delivery_id: str, as_json: Json = False
) -> None:
    """Send a delivery again now, under its original webhook-id."""
    with client(ctx) as vr:
        delivery = vr.webhooks.redeliver(webhook_id, delivery_id)
    if as_json:
        output.as_json(delivery)
    else:
        typer.echo(f"Redelivering {delivery.id} (webhook-id {delivery.message_id})")


@app.command("rotate-secret")
def webhooks_rotate_secret(ctx: typer.Context, as_json: Json = False) -> None:
    """A new signing secret, printed this once (the old one keeps signing beside it for a
    while, so receivers switch without losing a delivery)."""
    with client(ctx) as vr:
        rotated = vr.webhooks.rotate_secret()
    if as_json:
        output.as_json(rotated)
    else:
        typer.echo(rotated.secret)
    until = when(rotated.previous_valid_until)
    overlap = f"; the previous one also signs until {until}" if until else ""
    typer.echo(f"(shown only now{overlap})", err=True)

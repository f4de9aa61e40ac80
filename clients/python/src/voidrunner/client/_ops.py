"""Every REST call once, as data: what the sync and async clients send and how they read it.

The two clients differ only in how they send (`Client._do`, `AsyncClient._do`); what a call
is — method, path, query, body, the model its answer parses into — is written here once.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import httpx
from pydantic import BaseModel

from voidrunner.client._models import (
    ApiKey,
    ApiKeyCreate,
    ApiKeyList,
    AuthResponse,
    CreatedApiKey,
    CreatedWebhook,
    Delivery,
    DeliveryList,
    EventType,
    Execution,
    ExecutionList,
    MeResponse,
    MessageBody,
    RunBatchResult,
    RunSpec,
    Runtime,
    RuntimeList,
    Scope,
    SecretInfo,
    Share,
    ShareCreate,
    ShareList,
    ShareRole,
    SigningSecret,
    Task,
    TaskList,
    TaskSpec,
    TaskUpdate,
    User,
    Webhook,
    WebhookCreate,
    WebhookList,
    WebhookUpdate,
)

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)
Query = Mapping[str, str | int | None]
API = "/api/v1"


@dataclass(frozen=True)
class Op(Generic[T]):
    """One request and how its successful answer is read."""

    method: str
    path: str
    parse: Callable[[httpx.Response], T]
    params: Query | None = None
    json: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)
    # False: sent without the client's token (sign-in calls carry their own proof).
    auth: bool = True

    def query(self) -> dict[str, str | int]:
        """The query parameters that are set."""
        return {k: v for k, v in (self.params or {}).items() if v is not None}


def _model(kind: type[M]) -> Callable[[httpx.Response], M]:
    return lambda response: kind.model_validate_json(response.content)


def _nothing(_response: httpx.Response) -> None:
    return None


def _body(model: BaseModel, *, unset: bool = False) -> dict[str, Any]:
    if unset:
        return model.model_dump(mode="json", exclude_unset=True)
    return model.model_dump(mode="json", exclude_none=True)


def _id(value: uuid.UUID | str) -> str:
    # Quoted by httpx when it builds the URL; a bad id is the gateway's 400 to give.
    return str(value)


# auth


def register(email: str, password: str, name: str) -> Op[AuthResponse]:
    """POST /auth/register."""
    body = {"email": email, "password": password, "name": name}
    return Op("POST", f"{API}/auth/register", _model(AuthResponse), json=body, auth=False)


def login(email: str, password: str) -> Op[AuthResponse]:
    """POST /auth/login."""
    body = {"email": email, "password": password}
    return Op("POST", f"{API}/auth/login", _model(AuthResponse), json=body, auth=False)


def refresh(refresh_token: str) -> Op[AuthResponse]:
    """POST /auth/refresh (single use: the answer carries the next refresh token)."""
    body = {"refresh_token": refresh_token}
    return Op("POST", f"{API}/auth/refresh", _model(AuthResponse), json=body, auth=False)


def logout(refresh_token: str | None) -> Op[MessageBody]:
    """POST /auth/logout: the refresh token's session and the bearer's."""
    body = {"refresh_token": refresh_token} if refresh_token else {}
    return Op("POST", f"{API}/auth/logout", _model(MessageBody), json=body)


def me() -> Op[User]:
    """GET /auth/me."""
    return Op("GET", f"{API}/auth/me", lambda r: MeResponse.model_validate_json(r.content).user)


def change_password(current_password: str, new_password: str) -> Op[MessageBody]:
    """POST /auth/password (a session's token only)."""
    body = {"current_password": current_password, "new_password": new_password}
    return Op("POST", f"{API}/auth/password", _model(MessageBody), json=body)


def create_api_key(
    name: str, scopes: list[Scope], expires_at: dt.datetime | None
) -> Op[CreatedApiKey]:
    """POST /auth/api-keys."""
    body = ApiKeyCreate(name=name, scopes=scopes, expires_at=expires_at)
    return Op("POST", f"{API}/auth/api-keys", _model(CreatedApiKey), json=_body(body))


def list_api_keys(limit: int | None, cursor: str | None) -> Op[ApiKeyList]:
    """GET /auth/api-keys, one page."""
    params = {"limit": limit, "cursor": cursor}
    return Op("GET", f"{API}/auth/api-keys", _model(ApiKeyList), params=params)


def revoke_api_key(key_id: uuid.UUID | str) -> Op[None]:
    """DELETE /auth/api-keys/{id}."""
    return Op("DELETE", f"{API}/auth/api-keys/{_id(key_id)}", _nothing)


def api_key_items(page: ApiKeyList) -> list[ApiKey]:
    """The keys of a page."""
    return page.api_keys


# tasks


def create_task(spec: TaskSpec) -> Op[Task]:
    """POST /tasks."""
    return Op("POST", f"{API}/tasks", _model(Task), json=_body(spec))


def list_tasks(params: Query, cursor: str | None) -> Op[TaskList]:
    """GET /tasks, one page (`shared=with_me` in `params`: the tasks shared with the caller)."""
    return Op("GET", f"{API}/tasks", _model(TaskList), params={**params, "cursor": cursor})


def get_task(task_id: uuid.UUID | str) -> Op[Task]:
    """GET /tasks/{id}."""
    return Op("GET", f"{API}/tasks/{_id(task_id)}", _model(Task))


def update_task(task_id: uuid.UUID | str, changes: TaskUpdate) -> Op[Task]:
    """PUT /tasks/{id} with the fields set on `changes`."""
    body = _body(changes, unset=True)
    return Op("PUT", f"{API}/tasks/{_id(task_id)}", _model(Task), json=body)


def delete_task(task_id: uuid.UUID | str) -> Op[MessageBody]:
    """DELETE /tasks/{id}."""
    return Op("DELETE", f"{API}/tasks/{_id(task_id)}", _model(MessageBody))


def task_items(page: TaskList) -> list[Task]:
    """The tasks of a page."""
    return page.tasks


# executions and runs


def start_execution(
    task_id: uuid.UUID | str, wait: int, idempotency_key: str | None
) -> Op[Execution]:
    """POST /tasks/{id}/executions."""
    headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
    return Op(
        "POST",
        f"{API}/tasks/{_id(task_id)}/executions",
        _model(Execution),
        params={"wait": wait or None},
        headers=headers,
    )


def get_execution(execution_id: uuid.UUID | str) -> Op[Execution]:
    """GET /executions/{id}."""
    return Op("GET", f"{API}/executions/{_id(execution_id)}", _model(Execution))


def list_executions(
    task_id: uuid.UUID | str | None, params: Query, cursor: str | None
) -> Op[ExecutionList]:
    """GET /executions (every one of the caller's) or /tasks/{id}/executions, one page."""
    path = f"{API}/executions" if task_id is None else f"{API}/tasks/{_id(task_id)}/executions"
    return Op("GET", path, _model(ExecutionList), params={**params, "cursor": cursor})


def cancel_execution(execution_id: uuid.UUID | str) -> Op[MessageBody]:
    """DELETE /executions/{id}."""
    return Op("DELETE", f"{API}/executions/{_id(execution_id)}", _model(MessageBody))


def execution_items(page: ExecutionList) -> list[Execution]:
    """The executions of a page."""
    return page.executions


def logs_path(execution_id: uuid.UUID | str) -> str:
    """Where an execution's log stream is."""
    return f"{API}/executions/{_id(execution_id)}/logs"


def create_run(spec: RunSpec, wait: int) -> Op[Execution]:
    """POST /runs: a one-shot run."""
    return Op(
        "POST", f"{API}/runs", _model(Execution), params={"wait": wait or None}, json=_body(spec)
    )


def create_runs(specs: list[RunSpec]) -> Op[RunBatchResult]:
    """POST /runs/batch: the executions and, when a callback_url created it, the new secret."""
    body = {"runs": [_body(s) for s in specs]}
    return Op("POST", f"{API}/runs/batch", _model(RunBatchResult), json=body)


def runtimes() -> Op[list[Runtime]]:
    """GET /runtimes."""
    return Op(
        "GET", f"{API}/runtimes", lambda r: RuntimeList.model_validate_json(r.content).runtimes
    )


# task shares


def list_shares(task_id: uuid.UUID | str) -> Op[list[Share]]:
    """GET /tasks/{id}/shares (every one: a task has at most 100)."""
    return Op(
        "GET",
        f"{API}/tasks/{_id(task_id)}/shares",
        lambda r: ShareList.model_validate_json(r.content).shares,
    )


def put_share(task_id: uuid.UUID | str, email: str, role: ShareRole) -> Op[Share]:
    """POST /tasks/{id}/shares: share with `email`, or change its role (idempotent)."""
    body = ShareCreate(email=email, role=role)
    return Op("POST", f"{API}/tasks/{_id(task_id)}/shares", _model(Share), json=_body(body))


def delete_share(task_id: uuid.UUID | str, email: str) -> Op[MessageBody]:
    """DELETE /tasks/{id}/shares?email=..."""
    return Op(
        "DELETE",
        f"{API}/tasks/{_id(task_id)}/shares",
        _model(MessageBody),
        params={"email": email},
    )


# webhooks


def create_webhook(
    url: str, events: list[EventType] | None, enabled: bool, description: str | None
) -> Op[CreatedWebhook]:
    """POST /webhooks."""
    body = WebhookCreate(
        url=url, events=events or [], enabled=enabled, description=description or ""
    )
    return Op("POST", f"{API}/webhooks", _model(CreatedWebhook), json=_body(body))


def list_webhooks(limit: int | None, cursor: str | None) -> Op[WebhookList]:
    """GET /webhooks, one page."""
    params = {"limit": limit, "cursor": cursor}
    return Op("GET", f"{API}/webhooks", _model(WebhookList), params=params)


def webhook_items(page: WebhookList) -> list[Webhook]:
    """The webhooks of a page."""
    return page.webhooks


def get_webhook(webhook_id: uuid.UUID | str) -> Op[Webhook]:
    """GET /webhooks/{id}."""
    return Op("GET", f"{API}/webhooks/{_id(webhook_id)}", _model(Webhook))


def update_webhook(webhook_id: uuid.UUID | str, changes: WebhookUpdate) -> Op[Webhook]:
    """PATCH /webhooks/{id} with the fields set on `changes`."""
    body = _body(changes, unset=True)
    return Op("PATCH", f"{API}/webhooks/{_id(webhook_id)}", _model(Webhook), json=body)


def delete_webhook(webhook_id: uuid.UUID | str) -> Op[None]:
    """DELETE /webhooks/{id} (204)."""
    return Op("DELETE", f"{API}/webhooks/{_id(webhook_id)}", _nothing)


def list_deliveries(
    webhook_id: uuid.UUID | str, limit: int | None, cursor: str | None
) -> Op[DeliveryList]:
    """GET /webhooks/{id}/deliveries, one page."""
    params = {"limit": limit, "cursor": cursor}
    return Op(
        "GET",
        f"{API}/webhooks/{_id(webhook_id)}/deliveries",
        _model(DeliveryList),
        params=params,
    )


def delivery_items(page: DeliveryList) -> list[Delivery]:
    """The deliveries of a page."""
    return page.deliveries


def redeliver(webhook_id: uuid.UUID | str, delivery_id: uuid.UUID | str) -> Op[Delivery]:
    """POST /webhooks/{id}/deliveries/{delivery_id}/redeliver (202)."""
    path = f"{API}/webhooks/{_id(webhook_id)}/deliveries/{_id(delivery_id)}/redeliver"
    return Op("POST", path, _model(Delivery))


def secret_info() -> Op[SecretInfo]:
    """GET /webhooks/secret."""
    return Op("GET", f"{API}/webhooks/secret", _model(SecretInfo))


def rotate_secret() -> Op[SigningSecret]:
    """POST /webhooks/secret/rotate."""
    return Op("POST", f"{API}/webhooks/secret/rotate", _model(SigningSecret))

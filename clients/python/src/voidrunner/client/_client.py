"""`Client`: the synchronous SDK over httpx."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, TypeVar

import httpx
import httpx_sse

from voidrunner.client import _ops as ops
from voidrunner.client._base import (
    DEFAULT_TIMEOUT,
    STREAM_READ_TIMEOUT,
    Core,
    credentials_from_auth,
    log_event,
)
from voidrunner.client._credentials import Credentials
from voidrunner.client._errors import ConnectionFailed, error_for
from voidrunner.client._models import (
    ApiKey,
    AuthResponse,
    CreatedApiKey,
    CreatedWebhook,
    Delivery,
    EventType,
    Execution,
    LogEvent,
    MessageBody,
    RunBatchResult,
    RunSpec,
    Runtime,
    Scope,
    SecretInfo,
    Share,
    ShareRole,
    SigningSecret,
    Task,
    TaskSpec,
    TaskUpdate,
    User,
    Webhook,
    WebhookUpdate,
)
from voidrunner.client._paging import Paged, reconnect_delay, wait_delay

T = TypeVar("T")
Item = TypeVar("Item")
P = TypeVar("P", bound=Paged)
Id = uuid.UUID | str


class Client:
    """A synchronous VoidRunner client.

        with Client("http://localhost:8080", api_key="vr_...") as vr:
            execution = vr.runs.create(RunSpec(script_type="python", script_content="print(1)"),
                                       wait=30)

    Sign in with `api_key`, a bare access `token`, or a password session (`auth.login`),
    kept in `credentials_file` when given: its access token is then refreshed as it expires,
    under a lock that processes sharing the file respect. 429 and 503 answers are retried up
    to `max_retries` times, waiting what Retry-After says (at most `max_retry_wait` seconds).
    """

    def __init__(
        self,
        base_url: str | None = None,
        *,
        api_key: str | None = None,
        token: str | None = None,
        credentials_file: Path | str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        max_retries: int = 3,
        max_retry_wait: float = 30.0,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._core = Core(
            base_url,
            api_key=api_key,
            token=token,
            credentials_file=credentials_file,
            max_retries=max_retries,
            max_retry_wait=max_retry_wait,
        )
        self._timeout = timeout
        self._sleep = sleep
        self._refreshing = threading.Lock()
        self._http = httpx.Client(
            base_url=self._core.base_url, timeout=timeout, transport=transport
        )
        self.auth = AuthResource(self)
        self.api_keys = ApiKeysResource(self)
        self.tasks = TasksResource(self)
        self.executions = ExecutionsResource(self)
        self.runs = RunsResource(self)
        self.runtimes = RuntimesResource(self)
        self.shares = SharesResource(self)
        self.webhooks = WebhooksResource(self)

    @property
    def base_url(self) -> str:
        """The gateway this client talks to."""
        return self._core.base_url

    @property
    def credentials(self) -> Credentials:
        """What the client is signed in with now (tokens change as they are refreshed)."""
        return self._core.creds

    def close(self) -> None:
        """Close the connections."""
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # sending

    def _do(self, op: ops.Op[T]) -> T:
        return op.parse(self._send(op))

    def _send(self, op: ops.Op[Any]) -> httpx.Response:
        if op.auth and self._core.creds.stale():
            self._refresh()
        refreshed, attempt = False, 0
        while True:
            attempt += 1
            try:
                response = self._http.request(
                    op.method,
                    op.path,
                    params=op.query(),
                    json=op.json,
                    headers=self._core.headers_for(op),
                )
            except httpx.TransportError as exc:
                # Only a request that never left is safe to send again whatever it was.
                connect = isinstance(exc, httpx.ConnectError)
                delay = self._core.retry_delay(None, attempt) if connect else None
                if delay is None:
                    raise ConnectionFailed(f"cannot reach {self.base_url}: {exc}") from exc
                self._sleep(delay)
                continue
            if (
                response.status_code == 401
                and op.auth
                and not refreshed
                and self._core.can_refresh()
            ):
                self._refresh()
                refreshed = True
                continue
            if response.is_success:
                return response
            delay = self._core.retry_delay(response, attempt)
            if delay is None:
                raise error_for(response)
            self._sleep(delay)

    def _refresh(self) -> None:
        spent = self._core.creds.refresh_token
        with self._refreshing:
            if self._core.creds.refresh_token != spent:
                return  # another thread of this process refreshed while we waited
            self._refresh_locked(spent)

    def _refresh_locked(self, spent: str | None) -> None:
        if spent is None:
            return
        if self._core.file is None:
            self._core.creds = credentials_from_auth(self._do(ops.refresh(spent)), self.base_url)
            return
        with self._core.file.locked() as locked:
            if self._core.adopt(locked.read(), spent):
                return
            auth = self._do(ops.refresh(spent))
            self._core.creds = credentials_from_auth(auth, self.base_url)
            locked.write(self._core.creds)

    def _pages(
        self, make: Callable[[str | None], ops.Op[P]], items: Callable[[P], list[Item]]
    ) -> Iterator[Item]:
        cursor: str | None = None
        while True:
            page = self._do(make(cursor))
            yield from items(page)
            if not page.pagination.has_more or not page.pagination.next_cursor:
                return
            cursor = page.pagination.next_cursor

    def _stream_once(self, execution_id: Id, last_event_id: str | None) -> Iterator[LogEvent]:
        op: ops.Op[None] = ops.Op("GET", ops.logs_path(execution_id), lambda _r: None)
        if self._core.creds.stale():
            self._refresh()
        for attempt in (1, 2):
            headers = self._core.headers_for(op)
            if last_event_id:
                headers["Last-Event-ID"] = last_event_id
            timeout = httpx.Timeout(self._timeout, read=STREAM_READ_TIMEOUT)
            with httpx_sse.connect_sse(
                self._http, "GET", op.path, headers=headers, timeout=timeout
            ) as source:
                response = source.response
                if response.status_code == 401 and attempt == 1 and self._core.can_refresh():
                    self._refresh()
                    continue
                if not response.is_success:
                    response.read()
                    raise error_for(response)
                for sse in source.iter_sse():
                    yield log_event(sse)
                return


class AuthResource:
    """/auth: accounts and sessions."""

    def __init__(self, client: Client) -> None:
        self._c = client

    def register(self, email: str, password: str, name: str) -> AuthResponse:
        """Create an account; the client is then signed in as it."""
        auth = self._c._do(ops.register(email, password, name))
        self._c._core.signed_in(auth)
        return auth

    def login(self, email: str, password: str) -> AuthResponse:
        """Sign in with a password (the session is kept in the credentials file, if any)."""
        auth = self._c._do(ops.login(email, password))
        self._c._core.signed_in(auth)
        return auth

    def refresh(self) -> None:
        """Refresh the access token now (done by itself when it expires)."""
        self._c._refresh()

    def logout(self) -> MessageBody:
        """End the session on the server and forget its tokens."""
        creds = self._c._core.creds
        try:
            if creds.bearer() is None:
                return MessageBody(message="logged out successfully")
            return self._c._do(ops.logout(None if creds.api_key else creds.refresh_token))
        finally:
            self._c._core.signed_out()

    def me(self) -> User:
        """The signed-in user."""
        return self._c._do(ops.me())

    def change_password(self, current_password: str, new_password: str) -> MessageBody:
        """Change the password (the user's other sessions end; this one and its keys stay)."""
        return self._c._do(ops.change_password(current_password, new_password))


class ApiKeysResource:
    """/auth/api-keys."""

    def __init__(self, client: Client) -> None:
        self._c = client

    def create(
        self, name: str, scopes: list[Scope], *, expires_at: dt.datetime | None = None
    ) -> CreatedApiKey:
        """A new key; its `key` is shown only in this answer."""
        return self._c._do(ops.create_api_key(name, scopes, expires_at))

    def list(self, *, page_size: int | None = None) -> Iterator[ApiKey]:
        """Every live key, newest first (pages fetched as the iteration needs them)."""
        return self._c._pages(lambda c: ops.list_api_keys(page_size, c), ops.api_key_items)

    def revoke(self, key_id: Id) -> None:
        """Revoke a key: it stops working at once."""
        self._c._do(ops.revoke_api_key(key_id))


class TasksResource:
    """/tasks."""

    def __init__(self, client: Client) -> None:
        self._c = client

    def create(self, spec: TaskSpec) -> Task:
        """Create a task."""
        return self._c._do(ops.create_task(spec))

    def list(
        self,
        *,
        status: str | None = None,
        script_type: str | None = None,
        q: str | None = None,
        metadata: dict[str, Any] | None = None,
        sort_field: str | None = None,
        sort_order: str | None = None,
        shared: Literal["with_me"] | None = None,
        page_size: int | None = None,
    ) -> Iterator[Task]:
        """The caller's tasks, filtered and sorted (pages fetched as the iteration needs them)."""
        params = {
            "status": status,
            "script_type": script_type,
            "q": q,
            "metadata": json.dumps(metadata) if metadata is not None else None,
            "sort_field": sort_field,
            "sort_order": sort_order,
            "shared": shared,
            "limit": page_size,
        }
        return self._c._pages(lambda c: ops.list_tasks(params, c), ops.task_items)

    def get(self, task_id: Id) -> Task:
        """One task."""
        return self._c._do(ops.get_task(task_id))

    def update(self, task_id: Id, changes: TaskUpdate) -> Task:
        """Change the fields set on `changes`."""
        return self._c._do(ops.update_task(task_id, changes))

    def delete(self, task_id: Id) -> None:
        """Delete a task."""
        self._c._do(ops.delete_task(task_id))


class ExecutionsResource:
    """Executions: start, read, list, cancel, wait for, and follow their logs."""

    def __init__(self, client: Client) -> None:
        self._c = client

    def start(self, task_id: Id, *, wait: int = 0, idempotency_key: str | None = None) -> Execution:
        """Run a task; `wait` (≤ 60 s) answers once it is final or after that long."""
        return self._c._do(ops.start_execution(task_id, wait, idempotency_key))

    def get(self, execution_id: Id) -> Execution:
        """One execution, with its output."""
        return self._c._do(ops.get_execution(execution_id))

    def list(
        self,
        *,
        task_id: Id | None = None,
        status: str | None = None,
        script_type: str | None = None,
        page_size: int | None = None,
    ) -> Iterator[Execution]:
        """Executions newest first (summaries), of one task or all of the caller's."""
        params: ops.Query = {"limit": page_size}
        if task_id is None:
            params = {**params, "status": status, "script_type": script_type}
        return self._c._pages(
            lambda c: ops.list_executions(task_id, params, c), ops.execution_items
        )

    def cancel(self, execution_id: Id) -> None:
        """Stop a pending or running execution."""
        self._c._do(ops.cancel_execution(execution_id))

    def wait(self, execution_id: Id, *, timeout: float | None = None) -> Execution:
        """The execution once final; TimeoutError after `timeout` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        polls = 0
        while True:
            execution = self.get(execution_id)
            if execution.final:
                return execution
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"execution {execution_id} is still {execution.status}")
            polls += 1
            self._c._sleep(wait_delay(polls))

    def logs(
        self, execution_id: Id, *, last_event_id: str | None = None, max_reconnects: int = 5
    ) -> Iterator[LogEvent]:
        """The execution's output as it is produced, ending with its `end` event.

        A dropped connection is resumed with Last-Event-ID (no chunk twice, none lost);
        ConnectionFailed after `max_reconnects` failures in a row.
        """
        last, failures = last_event_id, 0
        while True:
            try:
                for event in self._c._stream_once(execution_id, last):
                    failures = 0
                    last = event.id or last
                    yield event
                    if event.event == "end":
                        return
            except (httpx.TransportError, httpx_sse.SSEError):
                pass
            failures += 1
            if failures > max_reconnects:
                raise ConnectionFailed(
                    "the server dropped the log stream and it could not be resumed"
                )
            self._c._sleep(reconnect_delay(failures))


class RunsResource:
    """/runs: one-shot runs, without a task."""

    def __init__(self, client: Client) -> None:
        self._c = client

    def create(self, spec: RunSpec, *, wait: int = 0) -> Execution:
        """Start a run; `wait` (≤ 60 s) answers once it is final or after that long."""
        return self._c._do(ops.create_run(spec, wait))

    def batch(self, specs: list[RunSpec]) -> RunBatchResult:
        """Several runs at once (all valid, or none starts): their executions in order, and
        `webhook_secret` when a run's callback_url created the caller's signing secret (shown
        this once)."""
        return self._c._do(ops.create_runs(specs))


class RuntimesResource:
    """/runtimes."""

    def __init__(self, client: Client) -> None:
        self._c = client

    def list(self) -> list[Runtime]:
        """The languages, their versions, availability and limits."""
        return self._c._do(ops.runtimes())


class SharesResource:
    """/tasks/{id}/shares: who the caller's tasks are shared with (the owner's calls; the tasks
    shared with the caller are `tasks.list(shared="with_me")`)."""

    def __init__(self, client: Client) -> None:
        self._c = client

    def list(self, task_id: Id) -> list[Share]:
        """Every share of the task, oldest first."""
        return self._c._do(ops.list_shares(task_id))

    def put(self, task_id: Id, email: str, role: ShareRole) -> Share:
        """Share the task with `email` as `viewer` or `runner`, or change that email's role.

        The answer is the same whether or not the email has an account yet."""
        return self._c._do(ops.put_share(task_id, email, role))

    def delete(self, task_id: Id, email: str) -> None:
        """Revoke `email`'s share (NotFound when there is none); a user the task is shared with
        leaves it by naming their own email."""
        self._c._do(ops.delete_share(task_id, email))


class WebhooksResource:
    """/webhooks: endpoints, their deliveries, and the caller's signing secret."""

    def __init__(self, client: Client) -> None:
        self._c = client

    def create(
        self,
        url: str,
        *,
        events: list[EventType] | None = None,
        enabled: bool = True,
        description: str | None = None,
    ) -> CreatedWebhook:
        """Register an endpoint (`events` None or empty: every event). The caller's first
        webhook creates their signing secret: `secret` in this answer, shown this once."""
        return self._c._do(ops.create_webhook(url, events, enabled, description))

    def list(self, *, page_size: int | None = None) -> Iterator[Webhook]:
        """The caller's endpoints, newest first (pages fetched as the iteration needs them)."""
        return self._c._pages(lambda c: ops.list_webhooks(page_size, c), ops.webhook_items)

    def get(self, webhook_id: Id) -> Webhook:
        """One endpoint."""
        return self._c._do(ops.get_webhook(webhook_id))

    def update(self, webhook_id: Id, changes: WebhookUpdate) -> Webhook:
        """Change the fields set on `changes`; enabling clears the failure record."""
        return self._c._do(ops.update_webhook(webhook_id, changes))

    def delete(self, webhook_id: Id) -> None:
        """Delete an endpoint: nothing more is sent to it."""
        self._c._do(ops.delete_webhook(webhook_id))

    def deliveries(self, webhook_id: Id, *, page_size: int | None = None) -> Iterator[Delivery]:
        """The endpoint's deliveries newest first, each with its `attempt_log`."""
        return self._c._pages(
            lambda c: ops.list_deliveries(webhook_id, page_size, c), ops.delivery_items
        )

    def redeliver(self, webhook_id: Id, delivery_id: Id) -> Delivery:
        """Send a delivery again now, under its original `webhook-id` (Conflict while the
        endpoint is disabled)."""
        return self._c._do(ops.redeliver(webhook_id, delivery_id))

    def secret(self) -> SecretInfo:
        """Whether the caller has a signing secret and since when (never the secret)."""
        return self._c._do(ops.secret_info())

    def rotate_secret(self) -> SigningSecret:
        """A new signing secret, shown once; the old one signs beside it until
        `previous_valid_until`, so receivers switch without losing a delivery."""
        return self._c._do(ops.rotate_secret())

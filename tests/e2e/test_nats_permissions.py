"""Each service's NATS user may do what its code does and nothing else.

A real nats-server configured as `make run`, compose and Kubernetes configure it (one nkey user
per service, permissions from voidrunner.contracts.nats_access), and clients that connect with
the services' real seeds. The pipeline's own suites run on these users too (the test fixtures
fail a test when NATS refused a service anything), which shows the permissions are enough; this
module shows they are not more: every forbidden action is refused.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any

import nats
import nkeys
import pytest
from nats.aio.client import Client as NATS
from nats.js.api import ConsumerConfig, KeyValueConfig, StreamConfig

from voidrunner.contracts import topology as t
from voidrunner.contracts.identities import ServiceName, inbox_prefix
from voidrunner.contracts.streams import declare_pipeline
from voidrunner.devstack.credentials import Credentials
from voidrunner.devstack.nats import EmbeddedNats, NatsConfig
from voidrunner.devstack.nats_config import render
from voidrunner.devstack.pytest_plugin import permission_violations

pytestmark = pytest.mark.nats_refusals

EXECUTION = "0b6f3c52-8f5e-4a39-9d55-2f1f0e0b7a11"


class Client:
    """A connection as one service, collecting the server's refusals."""

    def __init__(self, nc: NATS, errors: list[str]) -> None:
        self.nc = nc
        self.errors = errors

    async def refused(self, what: Callable[[], Awaitable[object]]) -> bool:
        """True when `what` was refused: an error from the server, or a request unanswered."""
        before = len(self.errors)
        try:
            await asyncio.wait_for(what(), timeout=1.0)
        except TimeoutError:  # a refused request is never answered (nats-py's is one too)
            return True
        await self.nc.flush()
        await asyncio.sleep(0.05)
        return len(self.errors) > before


@pytest.fixture
async def server(tmp_path: Path, service_credentials: Credentials) -> AsyncIterator[EmbeddedNats]:
    """A server with the services' users only (no anonymous access), streams declared."""
    nats_server = EmbeddedNats(
        NatsConfig(tmp_path / "nats", config_text=render(service_credentials))
    )
    nats_server.start()
    try:
        tasks = await _connect(nats_server, service_credentials, ServiceName.TASKS)
        await declare_pipeline(tasks.nc.jetstream())
        await tasks.nc.drain()
        yield nats_server
    finally:
        nats_server.stop()


async def _connect(server: EmbeddedNats, creds: Credentials, service: ServiceName) -> Client:
    errors: list[str] = []

    async def on_error(exc: Exception) -> None:
        errors.append(str(exc))

    nc = await nats.connect(
        server.url,
        nkeys_seed=str(creds.nats_seed(service)),
        inbox_prefix=inbox_prefix(service),
        error_cb=on_error,
        allow_reconnect=False,
    )
    return Client(nc, errors)


@pytest.fixture
async def as_service(
    server: EmbeddedNats, service_credentials: Credentials
) -> AsyncIterator[Callable[[ServiceName], Awaitable[Client]]]:
    opened: list[Client] = []

    async def connect(service: ServiceName) -> Client:
        client = await _connect(server, service_credentials, service)
        opened.append(client)
        return client

    yield connect
    for client in opened:
        await client.nc.close()


async def _request(nc: NATS, subject: str, payload: bytes = b"") -> object:
    return await nc.request(subject, payload, timeout=0.5)


async def _connect_refused(url: str, **options: Any) -> None:
    """Connect and expect a refusal. nats-py keeps the socket of a refused connection open (only
    its garbage collection would close it, warning in whichever later test that happens), so the
    client is closed here."""
    nc = NATS()
    try:
        with pytest.raises(nats.errors.Error, match="Authorization Violation"):
            await nc.connect(url, allow_reconnect=False, max_reconnect_attempts=0, **options)
    finally:
        await nc.close()


async def test_no_credentials_or_an_unknown_user_are_refused(server: EmbeddedNats) -> None:
    await _connect_refused(server.url)
    stranger = Path(server.config.data_dir) / "stranger.nk"
    stranger.write_bytes(nkeys.encode_seed(os.urandom(32), nkeys.PREFIX_BYTE_USER))
    await _connect_refused(server.url, nkeys_seed=str(stranger))
    log = (server.config.data_dir / "nats.log").read_text()
    assert log.count("authentication error") >= 2


async def test_the_executor_cannot_read_what_is_not_its_job(
    as_service: Callable[[ServiceName], Awaitable[Client]],
) -> None:
    executor = await as_service(ServiceName.EXECUTOR)
    nc, js = executor.nc, executor.nc.jetstream()
    forbidden_subscriptions = [
        t.REQUESTS_SUBJECT,  # every accepted execution, with its code and stdin
        "vr.events.>",  # other executors' results and claims
        f"{t.LOG_SUBJECT_PREFIX}.*",  # everyone's live output
        f"{t.FINAL_SUBJECT_PREFIX}.*",
        f"{inbox_prefix(ServiceName.TASKS)}.>",  # another service's replies
        "_INBOX.>",
        ">",
    ]
    for subject in forbidden_subscriptions:
        assert await executor.refused(partial(nc.subscribe, subject)), subject
    forbidden_requests = [
        # Reading the request stream or events by consumer or by message.
        f"$JS.API.CONSUMER.CREATE.{t.REQUESTS_STREAM}",
        f"$JS.API.CONSUMER.DURABLE.CREATE.{t.EVENTS_STREAM}.mine",
        f"$JS.API.STREAM.MSG.GET.{t.REQUESTS_STREAM}",
        f"$JS.API.STREAM.MSG.GET.{t.EVENTS_STREAM}",
        f"$JS.API.DIRECT.GET.{t.LOGS_STREAM}",
        f"$JS.API.CONSUMER.MSG.NEXT.{t.REQUESTS_STREAM}.{t.SCHEDULER_CONSUMER}",
        f"$JS.API.CONSUMER.MSG.NEXT.{t.EVENTS_STREAM}.{t.TASKS_EVENTS_CONSUMER}",
        # The revocation and rate-limit buckets: reading, watching, wiping.
        f"$JS.API.STREAM.MSG.GET.KV_{t.REVOKED_SESSIONS_BUCKET}",
        f"$JS.API.CONSUMER.CREATE.KV_{t.REVOKED_SESSIONS_BUCKET}",
        f"$JS.API.STREAM.PURGE.KV_{t.REVOKED_SESSIONS_BUCKET}",
        f"$JS.API.STREAM.DELETE.KV_{t.REVOKED_SESSIONS_BUCKET}",
        f"$JS.API.STREAM.PURGE.KV_{t.RATE_LIMIT_BUCKET}",
        # The valid API keys: reading their hashes, or watching them.
        f"$JS.API.STREAM.MSG.GET.KV_{t.API_KEYS_BUCKET}",
        f"$JS.API.CONSUMER.CREATE.KV_{t.API_KEYS_BUCKET}",
        # Changing or removing streams, and the account's view of them.
        f"$JS.API.STREAM.UPDATE.{t.EVENTS_STREAM}",
        f"$JS.API.STREAM.DELETE.{t.JOBS_STREAM}",
        f"$JS.API.STREAM.PURGE.{t.JOBS_STREAM}",
        f"$JS.API.STREAM.CREATE.{t.JOBS_STREAM}",
        "$JS.API.STREAM.NAMES",
        "$JS.API.STREAM.LIST",
    ]
    for subject in forbidden_requests:
        assert await executor.refused(partial(_request, nc, subject)), subject
    forbidden_publishes = [
        t.PIPELINE_RESULT_SUBJECT,  # results only the scheduler may report
        t.job_subject("normal"),  # queueing work for itself or others
        t.REQUESTS_SUBJECT,
        t.CANCEL_SUBJECT,
        t.final_subject(EXECUTION),
        f"$KV.{t.REVOKED_SESSIONS_BUCKET}.session",  # un-revoking or flooding sessions
        f"$KV.{t.API_KEYS_BUCKET}.key",  # minting an API key
        f"$KV.{t.CANCELLED_BUCKET}.{EXECUTION}",
        f"$KV.{t.INFLIGHT_BUCKET}.user",
        f"{t.INPUTS_SUBJECT_PREFIX}.{EXECUTION}",
    ]
    for subject in forbidden_publishes:
        assert await executor.refused(partial(nc.publish, subject, b"x")), subject
    # What it must do still works: its own events and the bucket of cancels.
    ack = await js.publish(t.STARTED_SUBJECT, b"")
    assert ack.stream == t.EVENTS_STREAM
    kv = await js.key_value(t.CANCELLED_BUCKET)
    with pytest.raises(nats.js.errors.KeyNotFoundError):
        await kv.get(EXECUTION)


async def test_no_service_may_wipe_the_revocation_bucket_but_auth(
    as_service: Callable[[ServiceName], Awaitable[Client]],
) -> None:
    bucket = f"KV_{t.REVOKED_SESSIONS_BUCKET}"
    auth = await as_service(ServiceName.AUTH)
    await auth.nc.jetstream().create_key_value(
        KeyValueConfig(bucket=t.REVOKED_SESSIONS_BUCKET, history=1)
    )
    for service in ServiceName:
        client = await as_service(service)
        assert await client.refused(
            partial(_request, client.nc, f"$JS.API.STREAM.DELETE.{bucket}")
        ), service
        assert await client.refused(
            partial(_request, client.nc, f"$JS.API.STREAM.PURGE.{bucket}")
        ), service
        if service not in (ServiceName.AUTH,):
            assert await client.refused(
                partial(client.nc.publish, f"$KV.{t.REVOKED_SESSIONS_BUCKET}.x", b"")
            ), service


async def test_only_auth_writes_the_api_keys_bucket_and_only_the_gateway_reads_it(
    as_service: Callable[[ServiceName], Awaitable[Client]],
) -> None:
    bucket = f"KV_{t.API_KEYS_BUCKET}"
    auth = await as_service(ServiceName.AUTH)
    kv = await auth.nc.jetstream().create_key_value(
        KeyValueConfig(bucket=t.API_KEYS_BUCKET, history=1)
    )
    await kv.put("k1", b"{}")
    gateway = await as_service(ServiceName.GATEWAY)
    watched = await (await gateway.nc.jetstream().key_value(t.API_KEYS_BUCKET)).get("k1")
    assert watched.value == b"{}"
    for service in ServiceName:
        client = await as_service(service)
        for subject in (f"$JS.API.STREAM.DELETE.{bucket}", f"$JS.API.STREAM.PURGE.{bucket}"):
            assert await client.refused(partial(_request, client.nc, subject)), service
        if service is not ServiceName.AUTH:
            assert await client.refused(
                partial(client.nc.publish, f"$KV.{t.API_KEYS_BUCKET}.k2", b"{}")
            ), service
        if service not in (ServiceName.AUTH, ServiceName.GATEWAY):
            assert await client.refused(
                partial(_request, client.nc, f"$JS.API.STREAM.MSG.GET.{bucket}")
            ), service


async def test_services_cannot_reach_each_others_lanes_or_consumers(
    as_service: Callable[[ServiceName], Awaitable[Client]],
) -> None:
    gateway = await as_service(ServiceName.GATEWAY)
    for subject in (
        f"$JS.API.CONSUMER.MSG.NEXT.{t.JOBS_STREAM}.{t.job_consumer('normal')}",
        f"$JS.API.STREAM.MSG.GET.{t.INPUTS_STREAM}",
        f"$JS.API.CONSUMER.CREATE.{t.EVENTS_STREAM}",
    ):
        assert await gateway.refused(partial(_request, gateway.nc, subject)), subject
    assert await gateway.refused(lambda: gateway.nc.publish(t.RESULT_SUBJECT, b""))
    auth = await as_service(ServiceName.AUTH)
    assert await auth.refused(lambda: auth.nc.subscribe(t.REQUESTS_SUBJECT))
    assert await auth.refused(
        lambda: auth.nc.jetstream().add_consumer(
            t.REQUESTS_STREAM, ConsumerConfig(durable_name="peek")
        )
    )
    tasks = await as_service(ServiceName.TASKS)
    assert await tasks.refused(
        lambda: _request(tasks.nc, f"$JS.API.STREAM.MSG.GET.KV_{t.REVOKED_SESSIONS_BUCKET}")
    )
    assert await tasks.refused(
        lambda: tasks.nc.jetstream().add_stream(StreamConfig(name="MINE", subjects=["mine"]))
    )


async def test_the_refusals_are_logged_by_the_server(
    server: EmbeddedNats, as_service: Callable[[ServiceName], Awaitable[Client]]
) -> None:
    executor = await as_service(ServiceName.EXECUTOR)
    assert await executor.refused(lambda: executor.nc.subscribe(t.REQUESTS_SUBJECT))
    await asyncio.sleep(0.1)
    assert any(t.REQUESTS_SUBJECT in line for line in permission_violations(server))

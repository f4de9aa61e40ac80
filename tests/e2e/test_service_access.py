"""Every internal gRPC call proves its caller, and each RPC answers only the services it is for.

Real auth and tasks servers, real service keys (the session's generated credentials), real calls:
no token or a foreign one is UNAUTHENTICATED, a known service calling an RPC that is not its own
is PERMISSION_DENIED, and a refused call writes nothing. Health stays open for probes.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator

import asyncpg
import grpc
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from voidrunner.auth import access as auth_access
from voidrunner.common.grpc_server import insecure_channel
from voidrunner.common.service_tokens import ServiceSigner, key_id
from voidrunner.devstack.credentials import Credentials
from voidrunner.devstack.stack_fixtures import channel_as, health_of
from voidrunner.proto.auth.v1 import auth_pb2
from voidrunner.proto.auth.v1.auth_pb2_grpc import AuthServiceStub
from voidrunner.proto.tasks.v1 import tasks_pb2
from voidrunner.proto.tasks.v1.tasks_pb2_grpc import TasksServiceStub
from voidrunner.proto.webhooks.v1 import webhooks_pb2
from voidrunner.tasks import access as tasks_access

USER = str(uuid.uuid4())


CALLER = tasks_pb2.Caller(user_id=USER, role="user")


def _create() -> tasks_pb2.CreateTaskRequest:
    return tasks_pb2.CreateTaskRequest(
        caller=CALLER,
        fields=tasks_pb2.TaskFields(name="t", script_content="print(1)", script_type="python"),
    )


async def _code(call: object) -> tuple[grpc.StatusCode, str]:
    try:
        await call  # type: ignore[misc]
    except grpc.aio.AioRpcError as exc:
        return exc.code(), exc.details() or ""
    return grpc.StatusCode.OK, ""


@pytest.fixture
async def bare(tasks_addr: str) -> AsyncIterator[grpc.aio.Channel]:
    """A channel whose calls carry no service token."""
    channel = insecure_channel(tasks_addr)
    yield channel
    await channel.close(None)


async def _task_rows(database_url: str) -> int:
    conn = await asyncpg.connect(database_url)
    try:
        count: int = await conn.fetchval("SELECT count(*) FROM tasks")
        return count
    finally:
        await conn.close()


async def test_a_call_without_a_token_is_unauthenticated_and_writes_nothing(
    bare: grpc.aio.Channel, database_url: str
) -> None:
    code, details = await _code(TasksServiceStub(bare).CreateTask(_create()))
    assert code == grpc.StatusCode.UNAUTHENTICATED
    assert "service token is required" in details
    assert await _task_rows(database_url) == 0


async def test_health_answers_probes_without_a_token(tasks_addr: str, auth_addr: str) -> None:
    assert await health_of(tasks_addr) == "SERVING"
    assert await health_of(auth_addr) == "SERVING"


async def test_reflection_needs_a_token(bare: grpc.aio.Channel) -> None:
    stub = reflection_pb2_grpc.ServerReflectionStub(bare)
    call = stub.ServerReflectionInfo(
        iter([reflection_pb2.ServerReflectionRequest(list_services="")])
    )
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        async for _ in call:
            pass
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_only_the_gateway_acts_for_users(
    tasks_addr: str, auth_addr: str, service_credentials: Credentials, database_url: str
) -> None:
    for caller in ("scheduler", "executor", "auth", "tasks"):
        channel = channel_as(service_credentials, caller, tasks_addr, "tasks")
        try:
            code, details = await _code(TasksServiceStub(channel).CreateTask(_create()))
        finally:
            await channel.close(None)
        assert code == grpc.StatusCode.PERMISSION_DENIED, caller
        assert details == f"{caller} may not call CreateTask"
        channel = channel_as(service_credentials, caller, auth_addr, "auth")
        try:
            code, _ = await _code(
                AuthServiceStub(channel).GetUser(auth_pb2.GetUserRequest(id=USER))
            )
        finally:
            await channel.close(None)
        assert code == grpc.StatusCode.PERMISSION_DENIED, caller
    assert await _task_rows(database_url) == 0
    gateway = channel_as(service_credentials, "gateway", tasks_addr, "tasks")
    try:
        code, _ = await _code(TasksServiceStub(gateway).CreateTask(_create()))
    finally:
        await gateway.close(None)
    assert code == grpc.StatusCode.OK
    assert await _task_rows(database_url) == 1


async def test_only_the_scheduler_lists_overdue_executions(
    tasks_addr: str, service_credentials: Credentials
) -> None:
    request = tasks_pb2.ListOverdueExecutionsRequest(
        caller=tasks_pb2.Caller(user_id=str(uuid.UUID(int=0)), role="service"),
        pending_seconds=60,
        running_grace_seconds=60,
        limit=10,
    )
    for caller, expected in (
        ("scheduler", grpc.StatusCode.OK),
        ("gateway", grpc.StatusCode.PERMISSION_DENIED),
        ("executor", grpc.StatusCode.PERMISSION_DENIED),
    ):
        channel = channel_as(service_credentials, caller, tasks_addr, "tasks")
        try:
            code, _ = await _code(TasksServiceStub(channel).ListOverdueExecutions(request))
        finally:
            await channel.close(None)
        assert code == expected, caller


async def test_a_token_for_another_service_is_refused(
    tasks_addr: str, service_credentials: Credentials
) -> None:
    # The gateway's token for the auth service, replayed against the tasks service.
    channel = channel_as(service_credentials, "gateway", tasks_addr, "auth")
    try:
        code, details = await _code(TasksServiceStub(channel).CreateTask(_create()))
    finally:
        await channel.close(None)
    assert code == grpc.StatusCode.UNAUTHENTICATED
    assert "for another service" in details


async def test_unknown_keys_expired_tokens_and_user_tokens_are_refused(
    bare: grpc.aio.Channel, service_credentials: Credentials
) -> None:
    stub = TasksServiceStub(bare)
    stranger = ServiceSigner("gateway", Ed25519PrivateKey.generate())
    cases = {
        "unknown key": stranger.token_for("tasks"),
        "not a JWT": "garbage",
    }
    key = service_credentials.service_key("gateway").read_bytes()
    private = serialization.load_pem_private_key(key, password=None)
    assert isinstance(private, Ed25519PrivateKey)
    now = int(time.time())
    headers = {"kid": key_id(private.public_key())}
    claims = {"iss": "gateway", "aud": "tasks", "typ": "vr-service"}
    cases["expired"] = jwt.encode(
        {**claims, "iat": now - 900, "exp": now - 600}, private, algorithm="EdDSA", headers=headers
    )
    # A user's access token is signed by the auth service's key, never a service's.
    cases["claims another issuer"] = jwt.encode(
        {**claims, "iss": "scheduler", "iat": now, "exp": now + 60},
        private,
        algorithm="EdDSA",
        headers=headers,
    )
    cases["not a service token"] = jwt.encode(
        {**claims, "typ": "access", "iat": now, "exp": now + 60},
        private,
        algorithm="EdDSA",
        headers=headers,
    )
    for what, token in cases.items():
        code, details = await _code(
            stub.ListTasks(
                tasks_pb2.ListTasksRequest(caller=CALLER, limit=10),
                metadata=(("authorization", f"Bearer {token}"),),
            )
        )
        assert code == grpc.StatusCode.UNAUTHENTICATED, (what, details)


def test_every_rpc_has_its_callers_named() -> None:
    # The tasks process serves two services (tasks and webhooks) under one rule table.
    for descriptors, rules in (
        (
            [
                tasks_pb2.DESCRIPTOR.services_by_name["TasksService"],
                webhooks_pb2.DESCRIPTOR.services_by_name["WebhooksService"],
            ],
            tasks_access.RULES,
        ),
        ([auth_pb2.DESCRIPTOR.services_by_name["AuthService"]], auth_access.RULES),
    ):
        methods = {f"/{d.full_name}/{m.name}" for d in descriptors for m in d.methods}
        assert set(rules) == methods
        assert all(rules[m] for m in methods)

"""One execution's trace, exported by every service to a real OTLP receiver: the HTTP request,
the gRPC call, the outbox relay, the scheduler, the executor and its sandbox, the recorder and
the final notice, linked by one trace id in their parent order.

The services run in this one process, each with its own tracer provider (its own service.name).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.e2e.otlp_receiver import OtlpReceiver, ReceivedSpan
from tests.e2e.test_pipeline import create_task, login, run
from voidrunner.common.tracing import Tracing
from voidrunner.devstack.processes import free_port
from voidrunner.gateway.app import create_app
from voidrunner.gateway.settings import GatewaySettings

# A sampled trace context a client might send: the gateway must ignore it.
FOREIGN_TRACE = "0af7651916cd43dd8448eb211c80319c"
FOREIGN = f"00-{FOREIGN_TRACE}-b7ad6b7169203331-01"
SECRET_CODE = "print('trace-me-not-7f3a')"


@pytest.fixture
async def receiver() -> AsyncIterator[OtlpReceiver]:
    receiver = OtlpReceiver()
    await receiver.start()
    try:
        yield receiver
    finally:
        await receiver.stop()


def _traced(receiver: OtlpReceiver) -> dict[str, Any]:
    return {"otlp_endpoint": receiver.endpoint, "trace_export_delay_ms": 50}


@pytest.fixture
def auth_settings_overrides(receiver: OtlpReceiver) -> dict[str, Any]:
    return _traced(receiver)


@pytest.fixture
def tasks_settings_overrides(receiver: OtlpReceiver) -> dict[str, Any]:
    return _traced(receiver)


@pytest.fixture
def scheduler_settings_overrides(receiver: OtlpReceiver) -> dict[str, Any]:
    return _traced(receiver)


@pytest.fixture
def executor_settings_overrides(receiver: OtlpReceiver) -> dict[str, Any]:
    return _traced(receiver)


@pytest.fixture
def gateway_settings_overrides(receiver: OtlpReceiver) -> dict[str, Any]:
    return _traced(receiver)


def _one(spans: list[ReceivedSpan], service: str, name: str) -> ReceivedSpan:
    found = [s for s in spans if s.service == f"voidrunner-{service}" and s.name == name]
    assert len(found) == 1, (service, name, found)
    return found[0]


HOPS = (
    ("gateway", "POST /api/v1/tasks/{task_id}/executions"),
    ("tasks", "voidrunner.tasks.v1.TasksService/StartExecution"),
    ("tasks", "outbox relay"),
    ("scheduler", "schedule"),
    ("executor", "execute"),
    ("executor", "sandbox"),
    ("tasks", "record started"),
    ("tasks", "record result"),
    ("gateway", "final notice"),
)


def _all_hops(spans: list[ReceivedSpan]) -> bool:
    # Each service exports on its own schedule, and spans end out of order (the request's
    # after the notice that answers it): wait for every hop.
    names = {(s.service, s.name) for s in spans}
    return all((f"voidrunner-{service}", name) in names for service, name in HOPS)


@pytest.mark.sandbox
async def test_one_execution_is_one_trace_across_every_hop(
    client: httpx.AsyncClient, pipeline: Any, receiver: OtlpReceiver
) -> None:
    auth = await login(client, f"trace-{uuid.uuid4().hex[:8]}@example.com")
    task_id = await create_task(client, auth, SECRET_CODE)
    resp = await client.post(
        f"/api/v1/tasks/{task_id}/executions?wait=30",
        headers={**auth, "traceparent": FOREIGN},
    )
    assert resp.status_code == 201, resp.text
    execution = resp.json()
    assert execution["status"] == "completed", execution
    spans = await receiver.wait_until(_all_hops)

    http = _one(spans, "gateway", "POST /api/v1/tasks/{task_id}/executions")
    trace = [s for s in spans if s.trace_id == http.trace_id]
    by_id = {s.span_id: s for s in trace}

    def parent(span: ReceivedSpan) -> ReceivedSpan:
        assert span.parent_id in by_id, (span, "has no parent in the trace")
        return by_id[span.parent_id]

    rpc = _one(trace, "tasks", "voidrunner.tasks.v1.TasksService/StartExecution")
    relay = _one(trace, "tasks", "outbox relay")
    schedule = _one(trace, "scheduler", "schedule")
    execute = _one(trace, "executor", "execute")
    sandbox = _one(trace, "executor", "sandbox")
    recorded = _one(trace, "tasks", "record result")
    notice = _one(trace, "gateway", "final notice")

    # The request is a root: the client's traceparent neither parents nor samples it.
    assert http.parent_id == ""
    assert http.trace_id != FOREIGN_TRACE
    assert all(s.trace_id != FOREIGN_TRACE for s in spans)
    assert http.attributes["http.route"] == "/api/v1/tasks/{task_id}/executions"
    assert http.attributes["http.response.status_code"] == 201
    assert parent(rpc) is http
    assert parent(relay) is rpc  # across the outbox row: a later transaction
    assert parent(schedule) is relay
    assert parent(execute) is schedule
    assert parent(sandbox) is execute
    assert sandbox.attributes["voidrunner.sandbox.backend"]
    assert parent(recorded) is execute
    assert parent(notice) is recorded
    assert _one(trace, "tasks", "record started").parent_id == execute.span_id
    assert execute.attributes["voidrunner.execution_id"] == execution["id"]
    # Privacy: no span carries the code, the query string or a token.
    for span in spans:
        text = repr(span.attributes)
        assert "trace-me-not" not in text
        assert "wait=" not in text
        assert "Bearer" not in text


@pytest.mark.sandbox
async def test_routes_with_ids_name_spans_by_template_only(
    client: httpx.AsyncClient, pipeline: Any, receiver: OtlpReceiver
) -> None:
    auth = await login(client, f"trace-ids-{uuid.uuid4().hex[:8]}@example.com")
    task_id = await create_task(client, auth, "print(1)")
    execution = await run(client, auth, task_id)
    assert execution["status"] == "completed"
    missing = await client.get(f"/api/v1/no-such-{uuid.uuid4().hex}", headers=auth)
    assert missing.status_code == 404
    got = await client.get(f"/api/v1/executions/{execution['id']}", headers=auth)
    assert got.status_code == 200
    spans = await receiver.wait_until(
        lambda spans: (
            any(s.name == "GET /api/v1/executions/{execution_id}" for s in spans)
            and any(s.name == "GET" for s in spans)
        )
    )
    for span in spans:
        assert task_id not in span.name, span.name
        assert execution["id"] not in span.name, span.name
        assert "no-such" not in repr(span.attributes), span


def _gateway(endpoint: str, **overrides: Any) -> tuple[Any, Tracing]:
    settings = GatewaySettings(environment="test", otlp_endpoint=endpoint, **overrides)
    tracing = Tracing.configure(settings)
    return create_app(settings, tracing=tracing), tracing


async def _get(app: Any, path: str, count: int = 1) -> list[int]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as c:
        return [
            (await c.get(path, headers={"traceparent": FOREIGN})).status_code for _ in range(count)
        ]


async def test_a_sampled_traceparent_from_outside_never_forces_sampling(
    receiver: OtlpReceiver,
) -> None:
    app, tracing = _gateway(receiver.endpoint, trace_sample_ratio=0.0)
    assert await _get(app, "/api/v1/nothing-here?token=secret") == [404]
    await tracing.shutdown()  # flushes whatever was recorded
    assert receiver.spans == []

    app, tracing = _gateway(receiver.endpoint, trace_sample_ratio=1.0)
    assert await _get(app, "/api/v1/nothing-here?token=secret") == [404]
    await tracing.shutdown()
    (span,) = receiver.spans
    assert (span.service, span.name, span.parent_id) == ("voidrunner-gateway", "GET", "")
    assert span.trace_id != FOREIGN_TRACE
    assert span.attributes["http.response.status_code"] == 404
    assert "secret" not in repr(span.attributes)
    assert "nothing-here" not in repr(span.attributes)


async def test_an_unreachable_collector_neither_blocks_requests_nor_shutdown() -> None:
    closed = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    app, tracing = _gateway(closed, trace_queue_size=8, otlp_timeout_seconds=1.0)
    # More spans than the queue holds: the rest are dropped, no request waits for the exporter.
    assert await _get(app, "/api/v1/nothing-here", count=100) == [404] * 100
    await asyncio.wait_for(tracing.shutdown(), timeout=15)


@pytest.mark.sandbox
async def test_a_judged_run_has_a_span_per_test_case(
    client: httpx.AsyncClient, pipeline: Any, receiver: OtlpReceiver
) -> None:
    auth = await login(client, f"trace-cases-{uuid.uuid4().hex[:8]}@example.com")
    resp = await client.post(
        "/api/v1/runs?wait=30",
        headers=auth,
        json={
            "script_type": "python",
            "script_content": "print(input())",
            "test_cases": [
                {"name": "secret-case-name", "stdin": "a\n", "expected_stdout": "a\n"},
                {"name": "second", "stdin": "b\n", "expected_stdout": "not b\n"},
            ],
        },
    )
    assert resp.status_code == 201, resp.text
    assert resp.json()["status"] == "failed", resp.json()
    # The executor's spans end inner first and may reach the receiver in separate exports.
    spans = await receiver.wait_until(
        lambda spans: (
            sum(s.name == "case" for s in spans) == 2
            and {"POST /api/v1/runs", "sandbox", "compile"} <= {s.name for s in spans}
        )
    )
    (http,) = [s for s in spans if s.name == "POST /api/v1/runs"]
    trace = {s.span_id: s for s in spans if s.trace_id == http.trace_id}
    sandbox = next(s for s in trace.values() if s.name == "sandbox")
    cases = sorted(
        (s for s in trace.values() if s.name == "case"),
        key=lambda s: s.attributes["voidrunner.case"],
    )
    assert [c.parent_id for c in cases] == [sandbox.span_id] * 2
    assert [c.attributes["voidrunner.verdict"] for c in cases] == ["accepted", "wrong_answer"]
    assert any(s.name == "compile" and s.parent_id == sandbox.span_id for s in trace.values())
    assert all("secret-case-name" not in repr(s.attributes) for s in spans)

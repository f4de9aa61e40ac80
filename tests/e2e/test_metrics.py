"""Every service's Prometheus metrics, read from its own /metrics port after real runs through
the whole stack (parsed with prometheus-client's parser, not by substring).

The services run in this one process, so they share one registry: each figure is compared with
its value before the runs, and each service's port is scraped on its own.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.test_pipeline import create_task, login, run
from voidrunner.contracts import topology as t
from voidrunner.devstack.processes import free_port

pytestmark = pytest.mark.sandbox

SERVICES = ("auth", "tasks", "scheduler", "executor", "gateway")
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture
def ports() -> dict[str, int]:
    """Each service's metrics port, picked as the test starts. Picked at import, they waited
    minutes for the suite to reach this module, and any server could take one meanwhile (a
    full run had all three tests here fail in setup together)."""
    return {service: free_port() for service in SERVICES}


def _metrics_of(ports: dict[str, int], service: str) -> dict[str, Any]:
    return {"metrics_host": "127.0.0.1", "metrics_port": ports[service]}


@pytest.fixture
def auth_settings_overrides(ports: dict[str, int]) -> dict[str, Any]:
    return _metrics_of(ports, "auth")


@pytest.fixture
def tasks_settings_overrides(ports: dict[str, int]) -> dict[str, Any]:
    return _metrics_of(ports, "tasks")


@pytest.fixture
def scheduler_settings_overrides(ports: dict[str, int]) -> dict[str, Any]:
    return _metrics_of(ports, "scheduler")


@pytest.fixture
def executor_settings_overrides(ports: dict[str, int]) -> dict[str, Any]:
    return _metrics_of(ports, "executor")


@pytest.fixture
def gateway_settings_overrides(ports: dict[str, int]) -> dict[str, Any]:
    return _metrics_of(ports, "gateway")


async def _scrape(ports: dict[str, int], service: str) -> Samples:
    async with httpx.AsyncClient() as c:
        resp = await c.get(f"http://127.0.0.1:{ports[service]}/metrics")
    assert resp.status_code == 200, service
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(resp.text)
        for sample in family.samples
    }


def _value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def test_every_service_counts_a_run_and_labels_stay_bounded(
    client: httpx.AsyncClient, pipeline: Any, ports: dict[str, int]
) -> None:
    before = await _scrape(ports, "gateway")
    auth = await login(client, "metrics@example.com")
    task_id = await create_task(client, auth, "print('counted')")
    execution = await run(client, auth, task_id)
    assert execution["status"] == "completed", execution
    assert (await client.get("/api/v1/auth/me")).status_code == 401  # no credentials
    got = await client.get(f"/api/v1/executions/{execution['id']}", headers=auth)
    assert got.status_code == 200
    await asyncio.sleep(0.1)  # the recorder's transaction and the gateway's log line settle

    scraped = {service: await _scrape(ports, service) for service in SERVICES}
    after = scraped["gateway"]

    def moved(name: str, by: float = 1, **labels: str) -> None:
        delta = _value(after, name, **labels) - _value(before, name, **labels)
        assert delta >= by, (name, labels, delta)

    # Every service serves its own port, and each one's figures are there.
    for service in SERVICES:
        assert ("voidrunner_executor_slots", frozenset({("state", "free")})) in scraped[service]
    moved("voidrunner_http_requests_total", method="POST", route="/api/v1/tasks", status="201")
    moved(
        "voidrunner_http_requests_total",
        method="GET",
        route="/api/v1/executions/{execution_id}",
        status="200",
    )
    moved("voidrunner_http_request_duration_seconds_count", method="POST", route="/api/v1/tasks")
    moved("voidrunner_auth_failures_total", kind="missing")
    moved(
        "voidrunner_grpc_server_handled_total",
        grpc_method="/voidrunner.tasks.v1.TasksService/CreateTask",
        grpc_code="OK",
    )
    moved(
        "voidrunner_grpc_server_handled_total",
        grpc_method="/voidrunner.auth.v1.AuthService/Register",
        grpc_code="OK",
    )
    moved("voidrunner_executions_accepted_total", runtime="python")
    moved("voidrunner_executions_started_total", runtime="python")
    moved("voidrunner_executions_finished_total", runtime="python", termination_reason="exit")
    moved("voidrunner_execution_queue_wait_seconds_count", runtime="python")
    moved("voidrunner_execution_run_seconds_count", runtime="python")
    moved("voidrunner_executor_jobs_total", runtime="python", outcome="ran")
    moved("voidrunner_executor_job_seconds_count", runtime="python")
    moved(
        "voidrunner_sandbox_overhead_seconds_count", backend="bwrap"
    )  # the pipeline fixture's backend
    moved("voidrunner_recorder_lag_seconds_count", event="started")
    moved("voidrunner_recorder_lag_seconds_count", event="result")
    # The relay handed everything on: the outbox gauges (refreshed every 5 s) read empty.
    assert ("voidrunner_outbox_oldest_seconds", frozenset()) in after
    assert _value(after, "voidrunner_outbox_pending_rows") == 0
    # The slots add up to the executor's configured number, none left busy.
    assert _value(after, "voidrunner_executor_slots", state="busy") == 0
    assert _value(after, "voidrunner_executor_slots", state="free") >= 1
    # Every lane has its depth figures (the scheduler reads its consumers' info).
    lanes = {
        dict(labels)["lane"] for (name, labels) in after if name == "voidrunner_lane_pending_jobs"
    }
    assert lanes == set(t.LANES)

    # No label names a user, a task or an execution: routes are templates.
    ids = {execution["id"], task_id, execution.get("user_id", "")} - {""}
    for _, labels in after:
        for _, value in labels:
            assert not any(i in value for i in ids), value


async def test_a_route_with_ids_or_unknown_paths_adds_no_series(
    client: httpx.AsyncClient, pipeline: object, ports: dict[str, int]
) -> None:
    auth = await login(client, "cardinality@example.com")
    for _ in range(5):  # made-up ids and paths, as a scanner sends them
        await client.get(f"/api/v1/tasks/{uuid.uuid4()}", headers=auth)
        await client.get(f"/no/such/{uuid.uuid4()}")
        await client.request("PROPFIND", "/api/v1/tasks")  # a WebDAV method
    samples = await _scrape(ports, "gateway")
    routes = {
        dict(labels)["route"]
        for (name, labels) in samples
        if name == "voidrunner_http_requests_total"
    }
    methods = {
        dict(labels)["method"]
        for (name, labels) in samples
        if name == "voidrunner_http_requests_total"
    }
    assert "/api/v1/tasks/{task_id}" in routes
    assert all("/no/such" not in r for r in routes), routes
    assert "PROPFIND" not in methods
    assert "other" in methods


async def test_a_cancelled_execution_counts_as_finished(
    client: httpx.AsyncClient, pipeline: object, ports: dict[str, int]
) -> None:
    before = await _scrape(ports, "tasks")
    auth = await login(client, "cancelled@example.com")
    task_id = await create_task(client, auth, "import time\ntime.sleep(30)")
    started = await client.post(f"/api/v1/tasks/{task_id}/executions", headers=auth)
    assert started.status_code == 201, started.text
    execution_id = started.json()["id"]
    cancel = await client.delete(f"/api/v1/executions/{execution_id}", headers=auth)
    assert cancel.status_code == 200, cancel.text
    after = await _scrape(ports, "tasks")
    labels = {"runtime": "python", "termination_reason": "cancelled"}
    delta = _value(after, "voidrunner_executions_finished_total", **labels) - _value(
        before, "voidrunner_executions_finished_total", **labels
    )
    assert delta == 1

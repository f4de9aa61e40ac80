"""The ops page: a plain user is told it is for admins (and has no link to it); an admin,
granted by the real `admin grant` command, sees the very figures GET /admin/stats and
/admin/executors answer (real runs, the test's own executor), changes the window through the
URL, and watches the page refresh itself every 5 s while visible, and not while hidden."""

from __future__ import annotations

import math
import re
from typing import Any

import httpx
from playwright.async_api import Page

from tests.e2e.test_admin import admin_command
from tests.e2e.test_admin import sign_in as api_sign_in
from tests.e2e.test_pipeline import create_task, run
from voidrunner.devstack.credentials import Credentials

from .conftest import UI, api_user, wait_until


def ms(value: float | None) -> str:
    """A percentile as the page shows it (format.ts `duration` of the rounded value)."""
    if value is None:
        return "—"
    rounded = math.floor(value + 0.5)  # JavaScript's Math.round, not Python's banker's rounding
    if rounded < 1000:
        return f"{rounded} ms"
    return f"{rounded / 1000:.2f} s"


async def stats(client: httpx.AsyncClient, auth: dict[str, str], window: int = 60) -> Any:
    resp = await client.get("/api/v1/admin/stats", params={"window": window}, headers=auth)
    assert resp.status_code == 200, resp.text
    return resp.json()


async def executors(client: httpx.AsyncClient, auth: dict[str, str]) -> Any:
    resp = await client.get("/api/v1/admin/executors", headers=auth)
    assert resp.status_code == 200, resp.text
    return resp.json()["executors"]


async def shown_accepted(page: Page) -> int:
    return int(await page.get_by_test_id("window-accepted").inner_text())


async def make_admin(
    ui: UI, database_url: str, nats_url: str, credentials: Credentials
) -> tuple[str, dict[str, str]]:
    """A user granted the admin role by the operator's command, then signed in again (in the
    browser and through the API: only tokens issued after the grant carry the role)."""
    email, _ = await api_user(ui.api, "Operator")
    granted = admin_command("grant", email, database_url, nats_url, credentials)
    assert granted.returncode == 0, granted.stderr
    await ui.sign_in(email)
    return email, await api_sign_in(ui.api, email)


async def test_a_plain_user_is_told_the_page_is_for_admins(ui: UI) -> None:
    email, _ = await api_user(ui.api, "Plain")
    admin_calls: list[str] = []
    ui.page.on(
        "request", lambda r: admin_calls.append(r.url) if "/api/v1/admin/" in r.url else None
    )
    await ui.sign_in(email)
    nav = ui.page.get_by_role("navigation", name="Main")
    await nav.get_by_role("link", name="API keys").wait_for()
    assert await nav.get_by_role("link", name="Ops").count() == 0

    await ui.goto("/ops")
    notice = ui.page.get_by_test_id("admins-only")
    await notice.wait_for()
    assert "Admins only." in await notice.inner_text()
    assert await ui.page.title() == "Ops · VoidRunner"
    assert await ui.page.get_by_test_id("window-accepted").count() == 0
    assert await ui.page.get_by_test_id("refresh").count() == 0
    assert await nav.get_by_role("link", name="Ops").count() == 0
    await ui.page.wait_for_timeout(300)
    assert admin_calls == []  # the page knows the role: it asks for nothing it would be refused
    await ui.shoot("ops-admins-only")


async def test_an_admin_sees_the_figures_the_api_answers(
    ui: UI, pipeline: Any, database_url: str, nats_url: str, service_credentials: Credentials
) -> None:
    _, admin = await make_admin(ui, database_url, nats_url, service_credentials)
    task_id = await create_task(ui.api, admin, "print('ops')")
    for _ in range(2):
        assert (await run(ui.api, admin, task_id))["status"] == "completed"
    failing = await create_task(ui.api, admin, "raise SystemExit(3)")
    assert (await run(ui.api, admin, failing))["status"] == "failed"

    nav = ui.page.get_by_role("navigation", name="Main")
    await nav.get_by_role("link", name="Ops").click()
    await ui.page.get_by_role("heading", name="Ops", exact=True).wait_for()
    assert ui.page.url.endswith("/ops")
    await ui.page.get_by_test_id("window-accepted").wait_for()

    expected = await stats(ui.api, admin)
    window = expected["window"]
    assert window["accepted"] == 3  # a fresh stack: only this test's runs
    assert await shown_accepted(ui.page) == 3
    assert await ui.page.get_by_role("heading", name="Last 1 h").count() == 1

    python = next(r for r in window["runtimes"] if r["runtime"] == "python")
    assert (python["executions"], python["unsuccessful"]) == (3, 1)
    row = ui.page.locator("[data-testid=runtime-row][data-runtime=python]")
    assert await row.locator("td").all_inner_texts() == [
        "python",
        "3",
        "1",
        ms(python["run_ms"]["p50"]),
        ms(python["run_ms"]["p95"]),
        ms(python["queue_wait_ms"]["p50"]),
        ms(python["queue_wait_ms"]["p95"]),
    ]
    assert "—" not in await row.inner_text()  # finished runs: every percentile is known
    by_status = ui.page.get_by_test_id("by-status")
    assert await by_status.locator("[data-status=completed] td").last.inner_text() == "2"
    assert await by_status.locator("[data-status=failed] td").last.inner_text() == "1"
    exited = ui.page.get_by_test_id("by-reason").locator("[data-reason=exit]")
    assert await exited.locator("td").all_inner_texts() == ["exited", "3"]

    capacity = expected["capacity"]
    assert await ui.page.get_by_test_id("capacity-executors").inner_text() == str(
        capacity["executors"]
    )
    busy = await ui.page.get_by_test_id("capacity-busy").inner_text()
    assert busy == f"{capacity['busy']} / {capacity['slots']}"
    assert capacity["slots"] == pipeline.settings.executor_slots
    assert await ui.page.get_by_test_id("active-pending").inner_text() == "0"
    assert await ui.page.get_by_test_id("active-running").inner_text() == "0"
    assert await ui.page.get_by_test_id("outbox-pending").inner_text() == "0"
    assert await ui.page.get_by_test_id("outbox-oldest").inner_text() == "—"
    lanes = ui.page.get_by_test_id("lane-row")
    assert await lanes.count() == len(expected["lanes"]) == 3
    for lane in expected["lanes"]:
        cells = ui.page.locator(f"[data-testid=lane-row][data-lane={lane['lane']}] td")
        assert await cells.all_inner_texts() == [
            lane["lane"],
            str(lane["pending"]),
            str(lane["in_flight"]),
            str(lane["redelivered"]),
        ]

    # The chart: one bar a minute of the window, adding up to what was accepted.
    chart = ui.page.get_by_test_id("per-minute")
    bars = chart.get_by_test_id("minute-bar")
    assert await bars.count() == len(window["per_minute"])
    counts = [int(await b.get_attribute("data-accepted") or -1) for b in await bars.all()]
    want = [m["accepted"] for m in window["per_minute"]]
    # The page refreshes itself every 5 s: past a minute's turn its window has moved on by one
    # bar since the API answered (seen in a full run: the last bar 0, the API's 3).
    assert counts in (want, [*want[1:], 0]), (counts, want)
    assert sum(counts) == 3
    tallest = max(range(len(counts)), key=counts.__getitem__)
    height = await bars.nth(tallest).locator("rect.bar-accepted").get_attribute("height")
    assert float(height or 0) > 0
    finished = sum(m["finished"] for m in window["per_minute"])
    assert finished == 3
    # Its accessible name carries the totals (what a screen reader says of the picture).
    name = "Runs over the last 1 h, a minute a bar: 3 accepted, 3 finished"
    named = ui.page.get_by_role("img", name=name)
    assert await named.count() == 1

    # The test's own executor, as /admin/executors has it.
    mine = next(
        e for e in await executors(ui.api, admin) if e["id"] == pipeline.settings.executor_id
    )
    executor = ui.page.locator(f"[data-testid=executor-row][data-executor='{mine['id']}']")
    shown = await executor.locator("td").all_inner_texts()
    assert shown[:5] == [
        mine["id"],
        mine["backend"],
        ", ".join(mine["runtimes"]),
        f"{mine['busy']} / {mine['slots']}",
        "no",
    ]
    assert "python" in mine["runtimes"]
    heartbeat = re.fullmatch(r"(\d+) s ago", shown[5])
    assert heartbeat is not None, shown[5]
    assert int(heartbeat[1]) < 15  # heartbeats every 0.5 s
    await ui.shoot("ops")

    # Another window: in the URL, and the figures of that window.
    await ui.page.get_by_label("Window").select_option(label="15 min")
    await ui.page.wait_for_url(re.compile(r"/ops\?window=15$"))
    short = await stats(ui.api, admin, 15)
    await ui.page.locator("[data-testid=window][data-minutes='15']").wait_for()
    await ui.page.get_by_role("heading", name="Last 15 min").wait_for()
    assert await bars.count() == len(short["window"]["per_minute"]) < 20
    assert await shown_accepted(ui.page) == short["window"]["accepted"] == 3

    await ui.page.get_by_label("Window").select_option(label="24 h")
    await ui.page.wait_for_url(re.compile(r"/ops\?window=1440$"))
    await ui.page.locator("[data-testid=window][data-minutes='1440']").wait_for()
    day = (await stats(ui.api, admin, 1440))["window"]
    # 1441 minutes (the current one too), 12 to a bar: the chart stays readable.
    assert await bars.count() == math.ceil(len(day["per_minute"]) / 12)
    counts = [int(await b.get_attribute("data-accepted") or -1) for b in await bars.all()]
    assert sum(counts) == day["accepted"] == 3
    assert "12 min a bar" in await ui.page.locator(".ops-chart figcaption").inner_text()
    await ui.shoot("ops-24h")

    # Back goes to the previous window; a reload keeps the one in the URL.
    await ui.page.go_back()
    await ui.page.locator("[data-testid=window][data-minutes='15']").wait_for()
    assert await ui.page.get_by_label("Window").input_value() == "15"
    await ui.page.reload()
    await ui.page.locator("[data-testid=window][data-minutes='15']").wait_for()
    assert await ui.page.get_by_label("Window").input_value() == "15"


async def test_the_page_refreshes_itself_while_visible(
    ui: UI, database_url: str, nats_url: str, service_credentials: Credentials
) -> None:
    _, admin = await make_admin(ui, database_url, nats_url, service_credentials)
    task_id = await create_task(ui.api, admin, "print('again')")
    assert (await run(ui.api, admin, task_id))["status"] == "completed"
    requests: list[str] = []
    ui.page.on(
        "request",
        lambda r: requests.append(r.url) if "/api/v1/admin/stats" in r.url else None,
    )
    await ui.goto("/ops")
    await ui.page.get_by_test_id("window-accepted").wait_for()
    assert await shown_accepted(ui.page) == 1
    updated = ui.page.get_by_test_id("updated").locator("time")
    first_update = await updated.get_attribute("datetime")
    await ui.page.evaluate("window.__notReloaded = true")

    assert (await run(ui.api, admin, task_id))["status"] == "completed"
    assert (await stats(ui.api, admin))["window"]["accepted"] == 2

    async def grown() -> bool:
        return await shown_accepted(ui.page) == 2

    await wait_until(grown, seconds=12)  # the next 5 s refresh, with room for a busy machine
    assert await ui.page.evaluate("window.__notReloaded") is True
    assert await updated.get_attribute("datetime") != first_update
    python = ui.page.locator("[data-testid=runtime-row][data-runtime=python] td")
    assert (await python.all_inner_texts())[1] == "2"

    # A hidden tab asks for nothing; back in view, it refreshes at once.
    await ui.page.evaluate(
        """() => {
            Object.defineProperty(
                document, "visibilityState", {configurable: true, get: () => "hidden"}
            );
            document.dispatchEvent(new Event("visibilitychange"));
        }"""
    )
    await ui.page.wait_for_timeout(300)  # a request already under way may still be sent
    before = len(requests)
    await ui.page.wait_for_timeout(6_000)
    assert len(requests) == before
    await ui.page.evaluate(
        """() => {
            delete document.visibilityState;
            document.dispatchEvent(new Event("visibilitychange"));
        }"""
    )

    async def asked_again() -> bool:
        return len(requests) > before

    await wait_until(asked_again, seconds=1)

    # The button asks at once too.
    await ui.page.wait_for_timeout(300)
    before = len(requests)
    await ui.page.get_by_test_id("refresh").click()
    await wait_until(asked_again, seconds=1)
    assert len(requests) == before + 1

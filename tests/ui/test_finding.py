"""A dropped log stream resumes without duplicating lines; the task list searches, filters,
sorts and pages; the list of runs names the task of each run, however old the task."""

from __future__ import annotations

import asyncio
import re

from playwright.async_api import Request, Route

from .conftest import UI, api_user, lines

QUICK = """import time
for i in range(1, 6):
    print(f"line {i}", flush=True)
    time.sleep(0.2)
"""


async def test_a_dropped_stream_reconnects_without_duplicating_lines(ui: UI) -> None:
    await ui.sign_up("Drop")
    opened: list[str | None] = []

    async def drop_the_first(route: Route) -> None:
        opened.append(await route.request.header_value("last-event-id"))
        if len(opened) > 1:
            await route.continue_()
            return
        # The connection breaks after two events: the browser gets them, then the end of
        # the body, with no `end` event.
        response = await route.fetch()
        events = [e for e in re.split(r"\r?\n\r?\n", await response.text()) if "data:" in e]
        assert len(events) == 6  # five lines and the end
        await route.fulfill(response=response, body="\n\n".join(events[:2]) + "\n\n")

    await ui.page.route("**/api/v1/executions/*/logs", drop_the_first)
    await ui.set_code(QUICK)
    await ui.page.get_by_test_id("run").click()
    assert "completed" in await ui.final_status()
    assert lines(await ui.output()) == [f"line {i}" for i in range(1, 6)]
    assert opened[0] is None
    assert opened[1] == "1:2"  # resumed after the last event it had
    assert len(opened) == 2


async def test_the_task_list_searches_filters_sorts_and_pages(ui: UI) -> None:
    email, headers = await api_user(ui.api, "Lister")
    for i in range(23):
        body = {
            "name": f"job-{i:02d}",
            "script_type": "bash" if i % 2 else "python",
            "script_content": "echo hi" if i % 2 else "print(1)",
            "metadata": {"team": "red" if i < 5 else "blue"},
            "description": "nightly report" if i == 7 else None,
        }
        resp = await ui.api.post("/api/v1/tasks", json=body, headers=headers)
        assert resp.status_code == 201, resp.text
    await ui.sign_in(email)
    await ui.goto("/tasks")
    table = ui.page.get_by_test_id("task-list")
    names = table.locator("tbody td:first-child a")
    await table.wait_for()
    assert await names.count() == 20
    assert await names.first.inner_text() == "job-22"  # newest first
    await ui.page.get_by_role("button", name="Next page").click()
    await ui.page.wait_for_url("**/tasks?cursor=*")
    await names.first.filter(has_text="job-02").wait_for()
    assert await names.all_inner_texts() == ["job-02", "job-01", "job-00"]
    await ui.page.get_by_role("button", name="Previous page").click()
    await names.first.filter(has_text="job-22").wait_for()

    await ui.page.get_by_label("Search name or description").fill("nightly")
    await ui.page.get_by_role("button", name="Apply").click()
    await ui.page.wait_for_url("**q=nightly*")
    await names.first.filter(has_text="job-07").wait_for()
    assert await names.count() == 1

    await ui.page.get_by_label("Search name or description").fill("")
    await ui.page.get_by_label("Metadata contains (JSON)").fill('{"team": "red"}')
    await ui.page.get_by_label("Language").select_option("bash")
    await ui.page.get_by_label("Sort").select_option("name.asc")
    await ui.page.get_by_role("button", name="Apply").click()
    await names.first.filter(has_text="job-01").wait_for()
    assert await names.all_inner_texts() == ["job-01", "job-03"]

    await ui.page.get_by_label("Status").select_option("completed")
    await ui.page.get_by_role("button", name="Apply").click()
    await ui.page.get_by_text("No tasks match").wait_for()


async def test_the_runs_page_names_tasks_older_than_the_newest_hundred(ui: UI) -> None:
    email, headers = await api_user(ui.api, "Hoarder")

    async def task(name: str) -> str:
        body = {"name": name, "script_type": "python", "script_content": "print(1)"}
        resp = await ui.api.post("/api/v1/tasks", json=body, headers=headers)
        assert resp.status_code == 201, resp.text
        return str(resp.json()["id"])

    async def run(path: str, body: dict[str, str] | None = None) -> str:
        resp = await ui.api.post(f"{path}?wait=30", json=body, headers=headers)
        assert resp.status_code == 201, resp.text
        assert resp.json()["status"] == "completed", resp.text
        return str(resp.json()["id"])

    # Runs change their task's updated_at, so the runs come first and the 101 newer tasks
    # after them: the two run tasks are then outside the newest 100 the page lists.
    oldest = await task("the-oldest")
    gone = await task("soon-gone")
    await run(f"/api/v1/tasks/{oldest}/executions")
    await run(f"/api/v1/tasks/{oldest}/executions")
    await run(f"/api/v1/tasks/{gone}/executions")
    one_shot = await run("/api/v1/runs", {"script_type": "python", "script_content": "print(2)"})
    for start in range(0, 101, 10):
        await asyncio.gather(*(task(f"newer-{i:03d}") for i in range(start, min(start + 10, 101))))
    newest = await ui.api.get(
        "/api/v1/tasks", params={"limit": 100, "sort_field": "updated_at"}, headers=headers
    )
    listed = {t["id"] for t in newest.json()["tasks"]}
    assert len(listed) == 100
    assert oldest not in listed
    assert gone not in listed

    reads: list[str] = []

    def count_task_reads(request: Request) -> None:
        read = re.search(r"/api/v1/tasks/([0-9a-f-]{36})$", request.url.split("?")[0])
        if read:
            reads.append(read[1])

    ui.page.on("request", count_task_reads)

    async def deleted_meanwhile(route: Route) -> None:
        # A task deleted takes its runs along; only a race shows a run whose task is gone.
        await route.fulfill(status=404, json={"error": "Task not found"})

    await ui.page.route(f"**/api/v1/tasks/{gone}", deleted_meanwhile)
    ui.allow("status of 404")
    await ui.sign_in(email)
    await ui.goto("/executions")
    listing = ui.page.get_by_test_id("execution-list")
    rows = listing.locator("tbody tr")
    await listing.wait_for()
    assert await rows.count() == 4
    old_rows = rows.filter(has=ui.page.get_by_role("link", name="the-oldest"))
    await old_rows.first.wait_for()
    assert await old_rows.count() == 2
    gone_row = rows.filter(has=ui.page.get_by_text("deleted task"))
    await gone_row.wait_for()
    assert await gone_row.get_by_role("link").count() == 1  # the run's own link, not the task's
    shot_row = rows.filter(has=ui.page.locator(f'a[href="/executions/{one_shot}"]'))
    assert "one-shot" in await shot_row.inner_text()
    # One read per unknown task, however many of its runs the page shows.
    assert sorted(reads) == sorted([oldest, gone])
    await ui.shoot("executions-old-tasks")

    # Another view of the list in the same page load asks for none of them again.
    await ui.page.get_by_label("Status").select_option("completed")
    await ui.page.get_by_role("button", name="Apply").click()
    await ui.page.wait_for_url("**status=completed*")
    await old_rows.first.wait_for()
    await gone_row.wait_for()
    assert len(reads) == 2
    # A rename moves the task into the newest 100, so the next visit's list call has the name.
    resp = await ui.api.put(f"/api/v1/tasks/{oldest}", json={"name": "renamed"}, headers=headers)
    assert resp.status_code == 200, resp.text
    nav = ui.page.get_by_role("navigation", name="Main")
    await nav.get_by_role("link", name="Tasks").click()
    await ui.page.get_by_test_id("task-list").wait_for()
    await nav.get_by_role("link", name="Runs").click()
    await rows.filter(has=ui.page.get_by_role("link", name="renamed")).first.wait_for()
    assert len(reads) == 2
    # A link to the task's runs (a new page load) names the task in its notice.
    await ui.goto(f"/executions?task_id={oldest}")
    await ui.page.get_by_test_id("task-filter").filter(has_text="renamed").wait_for()
    assert await rows.count() == 2

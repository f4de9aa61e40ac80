"""A dropped log stream resumes without duplicating lines; the task list searches, filters,
sorts and pages."""

from __future__ import annotations

import re

from playwright.async_api import Route

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

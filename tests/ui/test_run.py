"""Write code, run it, watch it: lines arrive one by one, a long run is cancelled and found
again in the history, a compile error is shown as one."""

from __future__ import annotations

import itertools
import time

from playwright.async_api import expect

from tests.e2e.test_languages import require_toolchain

from .conftest import UI, lines

TICKER = """import time
for i in range(1, 5):
    print(f"tick {i}", flush=True)
    time.sleep(1)
"""
LONG = """import time
print("started", flush=True)
time.sleep(60)
print("never")
"""
BROKEN_GO = """package main

import "fmt"

func main() {
\tfmt.Println("hi" + 1)
\tundefinedCall()
}
"""


async def test_sign_up_run_and_watch_the_lines_arrive_one_by_one(ui: UI) -> None:
    await ui.goto("/signup")
    await ui.page.get_by_role("heading", name="Create an account").wait_for()
    await ui.shoot("signup")
    await ui.sign_up("Ada")
    await ui.set_code(TICKER)
    # Python is highlighted: the keywords are styled spans of CodeMirror's highlighter.
    # (the grammar loads on demand; wait for it).
    await ui.page.locator(".cm-content span", has_text="import").first.wait_for()
    await ui.page.get_by_test_id("run").click()
    seen: dict[str, float] = {}
    deadline = time.monotonic() + 30
    while len(seen) < 4 and time.monotonic() < deadline:
        for line in lines(await ui.output()):
            seen.setdefault(line, time.monotonic())
        await ui.page.wait_for_timeout(50)
    assert list(seen) == ["tick 1", "tick 2", "tick 3", "tick 4"]
    arrivals = list(seen.values())
    gaps = [b - a for a, b in itertools.pairwise(arrivals)]
    # Printed a second apart, shown a second apart: live, not at the end.
    assert all(0.6 < gap < 1.6 for gap in gaps), gaps
    status = await ui.final_status()
    assert "completed" in status
    assert "exit code 0" in status
    assert "peak memory" in status
    assert "CPU" in status
    await ui.shoot("editor")


async def test_cancel_a_long_run_then_find_it_in_the_history(ui: UI) -> None:
    await ui.sign_up("Grace")
    await ui.page.get_by_label("Name", exact=True).fill("sleepy-one")
    await ui.set_code(LONG)
    await ui.page.keyboard.press("Control+Enter")  # from the editor
    await ui.page.get_by_test_id("output").get_by_text("started").wait_for()
    await ui.page.get_by_test_id("cancel").click()
    status = await ui.final_status()
    assert "cancelled" in status
    assert "started" in await ui.output()

    await ui.page.get_by_role("link", name="Tasks", exact=True).click()
    await ui.page.get_by_role("link", name="sleepy-one").click()
    history = ui.page.get_by_test_id("execution-history")
    await history.locator(".badge", has_text="cancelled").wait_for()
    await ui.shoot("task")
    await ui.goto("/tasks")
    await ui.page.get_by_test_id("task-list").wait_for()
    await ui.shoot("tasks")
    await ui.page.get_by_role("link", name="sleepy-one").click()
    await history.locator("a").first.click()
    await ui.page.get_by_role("heading", name="Run").wait_for()
    assert "cancelled" in await ui.final_status()
    facts = await ui.page.get_by_test_id("execution-facts").inner_text()
    assert "Started" in facts
    assert "Attempt\n1" in facts or "Attempt\t1" in facts
    await ui.page.get_by_test_id("output").get_by_text("started").wait_for()  # the log replayed
    async with ui.page.expect_download() as download:
        await ui.page.get_by_role("button", name="Download stdout").click()
    saved = await (await download.value).path()
    assert saved.read_text() == "started\n"
    await ui.shoot("execution")


async def test_a_compile_error_is_shown_as_one(ui: UI) -> None:
    await ui.sign_up("Ken")
    await ui.page.get_by_label("Language").select_option("go")
    await ui.set_code(BROKEN_GO)
    await ui.page.get_by_test_id("run").click()
    status = await ui.final_status(timeout=60_000)
    assert "failed" in status
    assert "compile error" in status
    compiler = await ui.page.get_by_test_id("compile-output").inner_text()
    assert "undefined" in compiler


async def test_every_shipped_language_is_offered_and_a_java_starter_runs(ui: UI) -> None:
    require_toolchain("java")
    await ui.sign_up("Grace")
    language = ui.page.get_by_label("Language")
    # The options come with GET /runtimes, after the page itself: reading them at once raced it
    # (an empty list in CI). All arrive in one render, so waiting for the last is enough.
    await language.locator("option", has_text="typescript").wait_for(state="attached")
    offered = await language.locator("option").all_inner_texts()
    assert {"python", "javascript", "typescript", "bash", "go", "c", "cpp", "java", "ruby"} <= set(
        offered
    ), offered
    # Python has two versions: CPython (the default) and PyPy (3.9).
    await expect(ui.page.get_by_label("Version").locator("option")).to_have_count(2)
    await language.select_option("java")
    # The entry file is the class java runs, and the starter says hello.
    await ui.page.get_by_role("tab", name="Main.java (entry file)").wait_for()
    await ui.page.get_by_test_id("run").click()
    status = await ui.final_status(timeout=60_000)
    assert "completed" in status, status
    assert lines(await ui.output()) == ["Hello, world!"]

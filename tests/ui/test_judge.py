"""The judge in the browser: a program of several files with arguments, test cases with their
verdicts, a compile error shown as one, every run in one list, a one-shot run reopened in the
editor, and file names as text."""

from __future__ import annotations

import json

from .conftest import UI, api_user, wait_until

MAIN = """import sys
from greetings import greet

print(greet(sys.argv[1]), flush=True)
print("args:", len(sys.argv) - 1)
"""
HELPER = """def greet(name):
    return f"Hello from a helper, {name}!"
"""
DOUBLE = "print(int(input()) * 2)\n"
BROKEN_GO = """package main

import "fmt"

func main() {
\tfmt.Println("hi" + 1)
}
"""
HOSTILE = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>'


async def test_a_program_of_two_files_imports_its_helper(ui: UI) -> None:
    await ui.sign_up("Multi")
    tabs = ui.page.get_by_test_id("file-tabs")
    await ui.set_code(MAIN)
    await ui.page.get_by_role("button", name="Add file").click()
    await tabs.get_by_role("tab", name="helper.py").wait_for()
    await ui.page.get_by_role("button", name="Rename helper.py").click()
    await ui.page.get_by_label("New name for helper.py").fill("greetings.py")
    await ui.page.get_by_role("button", name="Save name").click()
    helper = tabs.get_by_role("tab", name="greetings.py")
    assert await helper.get_attribute("aria-selected") == "true"
    await ui.set_code(HELPER)
    # The entry file is marked, and stays main.py.
    await tabs.get_by_role("tab", name="main.py (entry file)").wait_for()
    assert "entry" in await tabs.get_by_role("tab", name="main.py").inner_text()
    assert "entry" not in await helper.inner_text()
    # Arrow keys move between the tabs; the editor shows each file's own text.
    await helper.focus()
    await ui.page.keyboard.press("ArrowLeft")
    assert await tabs.get_by_role("tab", name="main.py").get_attribute("aria-selected") == "true"
    await ui.page.locator(".cm-content").get_by_text("from greetings import greet").wait_for()

    await ui.page.get_by_text("Arguments", exact=True).click()
    await ui.page.get_by_label("One argument per line").fill("Ada Lovelace\n--flag")
    await ui.page.get_by_test_id("run").click()
    status = await ui.final_status()
    assert "completed" in status, status
    output = await ui.output()
    assert "Hello from a helper, Ada Lovelace!" in output
    assert "args: 2" in output
    await ui.shoot("editor-files")

    # The task keeps both files: a reload brings them back as tabs.
    await ui.page.reload()
    await tabs.get_by_role("tab", name="greetings.py").wait_for()
    assert "entry" in await tabs.get_by_role("tab", name="main.py").inner_text()


async def test_test_cases_get_one_verdict_each(ui: UI) -> None:
    await ui.sign_up("Judge")
    await ui.set_code(DOUBLE)
    await ui.page.get_by_text("Test cases", exact=True).click()
    for stdin, expected in (("2", "4"), ("3", "7")):
        await ui.page.get_by_role("button", name="Add test case").click()
        n = await ui.page.get_by_test_id("case").count()
        await ui.page.get_by_label(f"Input of case {n}").fill(stdin)
        await ui.page.get_by_label(f"Expected output of case {n}").fill(expected)
    await ui.page.get_by_test_id("run").click()
    status = await ui.final_status()
    assert "failed" in status, status
    assert "1 of 2 cases passed" in status
    rows = ui.page.get_by_test_id("verdicts").get_by_test_id("case-row")
    await wait_until(lambda: _all_judged(ui))
    assert [await r.get_attribute("data-verdict") for r in await rows.all()] == [
        "accepted",
        "wrong_answer",
    ]
    summary = await ui.page.get_by_test_id("verdict-summary").inner_text()
    assert "1 of 2 passed" in summary
    assert "wrong answer" in summary
    # The wrong answer shows what was printed beside what was expected.
    wrong = ui.page.get_by_test_id("case-output").filter(has_text="case 2")
    assert "6" in await wrong.locator("pre").nth(0).inner_text()
    assert "7" in await wrong.locator("pre").nth(1).inner_text()
    await ui.shoot("editor-verdicts")
    await ui.page.emulate_media(color_scheme="dark")
    await ui.shoot("editor-verdicts-dark")
    await ui.page.emulate_media(color_scheme="light")

    # The task keeps its cases: after a reload, fix case 2 and run the task again.
    await ui.page.reload()
    expected_2 = ui.page.get_by_label("Expected output of case 2")
    assert await expected_2.input_value() == "7"
    await expected_2.fill("6")
    await ui.page.get_by_test_id("run").click()
    assert "2 of 2 cases passed" in await ui.final_status()

    # The first run's page (the older of the two in Runs): one accepted, one wrong answer.
    await ui.page.get_by_role("link", name="Runs", exact=True).click()
    await (
        ui.page.get_by_test_id("execution-list")
        .locator("tbody tr")
        .nth(1)
        .get_by_role("link")
        .first.click()
    )
    await ui.page.get_by_role("heading", name="Run").wait_for()
    page_rows = ui.page.get_by_test_id("verdicts").get_by_test_id("case-row")
    await page_rows.nth(1).wait_for()
    assert [await r.get_attribute("data-verdict") for r in await page_rows.all()] == [
        "accepted",
        "wrong_answer",
    ]
    facts = await ui.page.get_by_test_id("execution-facts").inner_text()
    assert "1 of 2 passed" in facts
    limits = await ui.page.get_by_test_id("execution-limits").inner_text()
    assert "time 300 s" in limits
    assert "memory 256 MiB" in limits
    await ui.shoot("execution-verdicts")


async def _all_judged(ui: UI) -> bool:
    rows = ui.page.get_by_test_id("verdicts").get_by_test_id("case-row")
    verdicts = [await r.get_attribute("data-verdict") for r in await rows.all()]
    return len(verdicts) == 2 and "running" not in verdicts


async def test_a_go_compile_error_is_shown_as_one_on_both_pages(ui: UI) -> None:
    await ui.sign_up("Gopher")
    await ui.page.get_by_label("Language").select_option("go")
    tab = ui.page.get_by_test_id("file-tabs").get_by_role("tab")
    assert await tab.get_attribute("aria-label") == "main.go (entry file)"
    await ui.set_code(BROKEN_GO)
    await ui.page.get_by_test_id("run").click()
    status = await ui.final_status(timeout=60_000)
    assert "compile error" in status
    section = ui.page.get_by_role("region", name="Compile error")
    await section.get_by_role("heading", name="Compile error").wait_for()
    assert "mismatched types" in await section.get_by_test_id("compile-output").inner_text()
    await ui.page.get_by_role("link", name="Open this run").click()
    page_section = ui.page.get_by_role("region", name="Compile error")
    await page_section.get_by_test_id("compile-output").wait_for()
    assert "mismatched types" in await page_section.inner_text()
    assert "compile error" in await ui.final_status()
    await ui.shoot("execution-compile-error")


async def test_the_list_of_runs_finds_a_one_shot_run_and_pages(ui: UI) -> None:
    email, headers = await api_user(ui.api, "Lister")
    # 20 older runs (one batch), so the newest run is on page 1 and one old run on page 2.
    batch = await ui.api.post(
        "/api/v1/runs/batch",
        json={"runs": [{"script_type": "python", "script_content": "print(1)"}] * 20},
        headers=headers,
    )
    assert batch.status_code == 201, batch.text
    oldest = batch.json()["executions"][0]["id"]
    await ui.sign_in(email)
    await ui.page.get_by_test_id("save-task").uncheck()
    assert await ui.page.get_by_label("Name", exact=True).is_disabled()
    await ui.set_code('print("one-shot here")\n')
    await ui.page.get_by_test_id("run").click()
    assert "completed" in await ui.final_status()
    assert "one-shot here" in await ui.output()
    run_link = ui.page.get_by_role("link", name="Open this run")
    run_id = (await run_link.get_attribute("href") or "").rsplit("/", 1)[-1]

    await ui.page.get_by_role("navigation", name="Main").get_by_role("link", name="Runs").click()
    listing = ui.page.get_by_test_id("execution-list")
    row = listing.locator("tr", has=ui.page.locator(f'a[href="/executions/{run_id}"]'))
    await row.wait_for()
    assert "one-shot" in await row.inner_text()
    assert await listing.locator("tbody tr").count() == 20
    await ui.shoot("executions")
    await ui.page.get_by_role("button", name="Next page").click()
    await listing.locator(f'a[href="/executions/{oldest}"]').wait_for()
    assert await listing.locator("tbody tr").count() == 1
    await ui.page.get_by_role("button", name="Previous page").click()
    await row.wait_for()

    # Filters narrow the list and live in the URL.
    await ui.page.get_by_label("Status").select_option("timeout")
    await ui.page.get_by_role("button", name="Apply").click()
    await ui.page.get_by_text("No runs match.").wait_for()
    assert "status=timeout" in ui.page.url
    await ui.page.get_by_label("Status").select_option("")
    await ui.page.get_by_label("Created after").fill("2099-01-01T00:00")
    await ui.page.get_by_role("button", name="Apply").click()
    await ui.page.get_by_text("No runs match.").wait_for()
    await ui.page.get_by_label("Created after").fill("")
    await ui.page.get_by_label("Language").select_option("python")
    await ui.page.get_by_role("button", name="Apply").click()
    await row.wait_for()

    await row.get_by_role("link", name=run_id[:8]).click()
    await ui.page.get_by_role("heading", name=f"Run {run_id[:8]}").wait_for()
    program = ui.page.get_by_test_id("run-program")
    await program.get_by_text("Program").click()
    assert 'print("one-shot here")' in await program.inner_text()
    # Back into the editor, as a one-shot run again.
    await ui.page.get_by_role("link", name="Open in editor").click()
    await ui.page.locator(".cm-content").get_by_text('print("one-shot here")').wait_for()
    assert not await ui.page.get_by_test_id("save-task").is_checked()


async def test_a_reopened_one_shot_run_restores_its_cases_but_not_the_hidden_one(ui: UI) -> None:
    email, headers = await api_user(ui.api, "Reopener")
    body = {
        "script_type": "python",
        "script_content": DOUBLE,
        "stdin": "4\n",
        "args": ["--fast", "two words"],
        "test_cases": [
            {"name": "small", "stdin": "2\n", "args": ["--own"], "expected_stdout": "4\n"},
            {"name": "big", "stdin": "50\n", "expected_stdout": "100\n", "compare": "exact"},
            {"name": "secret", "stdin": "7_319\n", "expected_stdout": "14638\n", "hidden": True},
        ],
        "stop_on_first_failure": True,
    }
    resp = await ui.api.post("/api/v1/runs?wait=30", json=body, headers=headers)
    assert resp.status_code == 201, resp.text
    run = resp.json()
    assert run["total"] == 3, run
    # What reopening has to work with: the visible cases as given, the hidden one by name.
    given = run["run"]["test_cases"]
    assert [c["name"] for c in given] == ["small", "big", "secret"]
    assert given[2] == {"name": "secret", "hidden": True}
    assert "7_319" not in resp.text
    assert "14638" not in json.dumps(run["run"])

    await ui.sign_in(email)
    await ui.goto(f"/executions/{run['id']}")
    await ui.page.get_by_role("link", name="Open in editor").click()
    await ui.page.locator(".cm-content").get_by_text("print(int(input()) * 2)").wait_for()
    note = ui.page.get_by_test_id("cases-not-restored")
    await note.wait_for()
    said = await note.inner_text()
    assert said == "1 hidden test case was not restored: its input is never shown.", said
    # The run's program, input, arguments, one-shot, and its visible cases come back.
    assert not await ui.page.get_by_test_id("save-task").is_checked()
    assert await ui.page.locator("#stdin").input_value() == "4\n"
    assert await ui.page.locator("#args").input_value() == "--fast\ntwo words"
    shown = ui.page.get_by_test_id("case")
    assert await shown.count() == 2
    assert await ui.page.get_by_label("Name of case 1").input_value() == "small"
    assert await ui.page.get_by_label("Input of case 1").input_value() == "2\n"
    assert await ui.page.get_by_label("Expected output of case 1").input_value() == "4\n"
    assert await ui.page.get_by_label("Own arguments for case 1").is_checked()
    assert await ui.page.get_by_label("Arguments of case 1").input_value() == "--own"
    assert await ui.page.get_by_label("Name of case 2").input_value() == "big"
    assert await ui.page.get_by_label("Input of case 2").input_value() == "50\n"
    assert await ui.page.get_by_label("Expected output of case 2").input_value() == "100\n"
    assert not await ui.page.get_by_label("Own arguments for case 2").is_checked()
    assert await shown.nth(0).get_by_label("Compare output").input_value() == (
        "trim_trailing_whitespace"
    )
    assert await shown.nth(1).get_by_label("Compare output").input_value() == "exact"
    assert await ui.page.get_by_label("Stop at the first failing case").is_checked()
    await ui.shoot("editor-reopened-run")

    # Run again: a one-shot run judged against the two restored cases, as the editor holds them.
    await ui.page.get_by_test_id("run").click()
    assert "completed" in await ui.final_status()
    again = ui.page.get_by_role("link", name="Open this run")
    again_id = (await again.get_attribute("href") or "").rsplit("/", 1)[-1]
    rerun = (await ui.api.get(f"/api/v1/executions/{again_id}", headers=headers)).json()
    assert rerun.get("task_id") is None
    assert (rerun["verdict"], rerun["passed"], rerun["total"]) == ("accepted", 2, 2), json.dumps(
        rerun
    )
    assert rerun["run"]["test_cases"] == given[:2]
    assert rerun["run"]["stop_on_first_failure"] is True


async def test_a_cases_own_arguments_are_kept_and_edited(ui: UI) -> None:
    email, headers = await api_user(ui.api, "Arguer")
    body = {
        "name": "echo-args",
        "script_type": "python",
        "script_content": "import sys\nprint(' '.join(sys.argv[1:]))\n",
        "args": ["from", "the", "run"],
        "test_cases": [
            {"name": "own", "args": ["7", "two words"], "expected_stdout": "7 two words\n"},
            {"name": "none", "args": [], "expected_stdout": "\n"},
            {"name": "inherits", "expected_stdout": "from the run\n"},
        ],
    }
    resp = await ui.api.post("/api/v1/tasks", json=body, headers=headers)
    assert resp.status_code == 201, resp.text
    task_id = resp.json()["id"]
    await ui.sign_in(email)
    await ui.goto(f"/editor/{task_id}")
    own = ui.page.get_by_label("Own arguments for case 1")
    await own.wait_for()
    assert await own.is_checked()
    assert await ui.page.get_by_label("Arguments of case 1").input_value() == "7\ntwo words"
    assert await ui.page.get_by_label("Own arguments for case 2").is_checked()
    assert await ui.page.get_by_label("Arguments of case 2").input_value() == ""
    assert not await ui.page.get_by_label("Own arguments for case 3").is_checked()
    assert await ui.page.get_by_label("Arguments of case 3").count() == 0

    # The third case gets arguments of its own; Run saves the task with all three.
    await ui.page.get_by_label("Own arguments for case 3").check()
    await ui.page.get_by_label("Arguments of case 3").fill("x\ny")
    await ui.page.get_by_label("Expected output of case 3").fill("x y")
    await ui.page.get_by_test_id("run").click()
    assert "3 of 3 cases passed" in await ui.final_status()
    await ui.shoot("editor-case-arguments")
    saved = (await ui.api.get(f"/api/v1/tasks/{task_id}", headers=headers)).json()
    assert [c.get("args") for c in saved["test_cases"]] == [["7", "two words"], [], ["x", "y"]]


async def test_a_hostile_file_name_is_text(ui: UI) -> None:
    await ui.sign_up("Mallory")
    await ui.page.get_by_role("button", name="Add file").click()
    await ui.page.get_by_role("button", name="Rename helper.py").click()
    await ui.page.get_by_label("New name for helper.py").fill(HOSTILE)
    await ui.page.get_by_role("button", name="Save name").click()
    tab = ui.page.get_by_test_id("file-tabs").get_by_role("tab", name=HOSTILE)
    await tab.wait_for()
    assert await tab.inner_text() == HOSTILE
    assert HOSTILE in await ui.page.get_by_test_id("file-problem").inner_text()
    ui.allow("status of 400")  # the API refuses the name, naming the file
    await ui.page.get_by_test_id("run").click()
    note = ui.page.get_by_role("alert").filter(has_text="Validation failed")
    await note.wait_for()
    assert f"File {HOSTILE}" in await note.inner_text()
    assert await ui.page.locator("main img, main script").count() == 0
    assert await ui.page.evaluate("window.__xss") is None
    await ui.shoot("editor-hostile-file")


async def test_limits_above_the_operators_caps_are_refused_before_sending(ui: UI) -> None:
    email, headers = await api_user(ui.api, "Capped")
    caps = (await ui.api.get("/api/v1/runtimes", headers=headers)).json()
    python = next(r for r in caps["runtimes"] if r["name"] == "python")
    most = python["max_limits"]["memory_limit_mb"]
    await ui.sign_in(email)
    await ui.page.get_by_text("Limits", exact=True).click()
    memory = ui.page.get_by_label("Memory limit (MiB)")
    assert await memory.get_attribute("max") == str(most)
    assert f"at most {most}" in await ui.page.locator("#limit-memory_limit_mb-hint").inner_text()
    await memory.fill(str(most + 1))
    sent: list[str] = []
    ui.page.on("request", lambda r: sent.append(r.url) if "/api/v1/tasks" in r.url else None)
    await ui.page.get_by_test_id("run").click()
    note = ui.page.get_by_role("alert").filter(has_text="Validation failed")
    await note.wait_for()
    assert "Memory limit" in await note.inner_text()
    assert await memory.get_attribute("aria-invalid") == "true"
    assert sent == []

"""Bad input and ended sessions: what a user controls is shown as text, another user's run is
not found, a revoked session leads back to sign-in, and tabs and reloads keep a session."""

from __future__ import annotations

import asyncio

from voidrunner.gateway.routes.session import COOKIE

from .conftest import UI, api_user

HOSTILE = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>'
PRINTS_HOSTILE = (
    "import sys\n"
    f"print({HOSTILE!r})\n"
    'print("\\x1b[31mred\\x1b[0m plain")\n'
    f"print({HOSTILE!r}, file=sys.stderr)\n"
)


async def test_another_users_execution_shows_not_found(ui: UI) -> None:
    _, bob = await api_user(ui.api, "Bob")
    task = await ui.api.post(
        "/api/v1/tasks",
        json={"name": "bobs", "script_type": "python", "script_content": "print(1)"},
        headers=bob,
    )
    started = await ui.api.post(f"/api/v1/tasks/{task.json()['id']}/executions", headers=bob)
    assert started.status_code == 201
    await ui.sign_up("Eve")
    ui.allow("status of 404")  # the API's answer for someone else's execution and task
    await ui.goto(f"/executions/{started.json()['id']}")
    await ui.page.get_by_role("heading", name="Execution not found").wait_for()
    await ui.goto(f"/tasks/{task.json()['id']}")
    await ui.page.get_by_role("heading", name="Task not found").wait_for()
    await ui.goto("/no/such/page")
    await ui.page.get_by_role("heading", name="Page not found").wait_for()
    await ui.shoot("not-found")


async def test_what_users_control_is_rendered_as_text(ui: UI) -> None:
    email, headers = await api_user(ui.api, "Mallory")
    metadata = {HOSTILE: HOSTILE, "team": "<b>ops</b>"}
    task = await ui.api.post(
        "/api/v1/tasks",
        json={
            "name": "x onmouseover=alert.1 %3Cimg%3E",  # names refuse < > " ' & etc.
            "description": HOSTILE,
            "script_type": "python",
            "script_content": PRINTS_HOSTILE,
            "metadata": metadata,
        },
        headers=headers,
    )
    assert task.status_code == 201, task.text
    await ui.goto("/signin")
    await ui.shoot("signin")
    await ui.sign_in(email)
    await ui.goto("/tasks")
    await ui.page.get_by_test_id("task-list").get_by_text(HOSTILE[:15]).first.wait_for()
    await ui.page.get_by_role("link", name="x onmouseover=alert.1 %3Cimg%3E").click()
    await ui.page.get_by_role("button", name="Run now").click()
    assert "completed" in await ui.final_status()
    output = await ui.output()
    assert output.count(HOSTILE) == 2  # stdout and stderr, as printed
    assert "␛[31mred␛[0m plain" in output  # the escape shown, not interpreted
    await ui.page.go_back()
    await ui.page.get_by_test_id("task-metadata").wait_for()
    shown = await ui.page.locator("main").inner_text()
    assert HOSTILE in shown
    assert "<b>ops</b>" in shown
    assert await ui.page.locator("main img, main script, main b").count() == 0
    assert await ui.page.evaluate("window.__xss") is None


async def test_a_revoked_session_sends_the_user_to_sign_in(ui: UI) -> None:
    await ui.sign_up("Rita")
    cookie = next(c for c in await ui.context.cookies() if c["name"] == COOKIE)
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Strict"
    assert await ui.page.evaluate("document.cookie") == ""  # out of script's reach
    assert await ui.page.evaluate("JSON.stringify(Object.values(localStorage))") in (
        '["1"]',
        "[]",
    )  # no token kept there, only the signed-in flag
    # The session ends elsewhere: its refresh token's family is revoked.
    out = await ui.api.post("/api/v1/auth/logout", json={"refresh_token": cookie["value"]})
    assert out.status_code == 200
    ui.allow("status of 401")  # the revoked access token, then the refused refresh
    await ui.page.get_by_role("link", name="Tasks", exact=True).click()
    await ui.page.get_by_role("heading", name="Sign in").wait_for()
    assert "session has ended" in await ui.page.locator("main").inner_text()
    assert "/signin?next=" in ui.page.url


async def test_two_tabs_and_reloads_keep_the_session(ui: UI) -> None:
    await ui.sign_up("Tab")
    other = await ui.new_page()
    await ui.goto("/tasks", other)
    await other.get_by_test_id("user-name").wait_for()
    for _ in range(3):
        # Both tabs refresh at once, each presenting the cookie: serialized, nobody loses.
        await asyncio.gather(ui.page.reload(), other.reload())
        for page in (ui.page, other):
            await page.get_by_test_id("user-name").wait_for()
    # A reload that interrupts the previous one's refresh.
    for pause in (0, 20, 60):
        await ui.page.reload(wait_until="commit")
        await ui.page.wait_for_timeout(pause)
        await ui.page.goto(ui.page.url)
    await ui.page.get_by_test_id("user-name").wait_for()
    await other.reload()
    await other.get_by_test_id("user-name").wait_for()


async def test_the_editor_is_reachable_by_keyboard_with_visible_focus(ui: UI) -> None:
    await ui.sign_up("Keys")
    await ui.goto("/")  # focus starts at the top of a freshly loaded page
    await ui.page.get_by_test_id("run").wait_for()
    reached: list[str] = []
    for _ in range(40):
        if reached and reached[-1].startswith("Code|"):
            # Tab indents in the editor; Escape first lets the next Tab leave it.
            await ui.page.keyboard.press("Escape")
        await ui.page.keyboard.press("Tab")
        await ui.page.wait_for_timeout(60)  # CodeMirror marks its focus on its next update
        focused = await ui.page.evaluate(
            """() => {
                const el = document.activeElement;
                if (!el || el === document.body) return "";  // past the last stop
                const style = getComputedStyle(el.closest('.cm-editor') || el);
                return [el.getAttribute('aria-label') || el.textContent.trim().slice(0, 20)
                        || el.id, style.outlineStyle, style.outlineWidth].join('|');
            }"""
        )
        if not focused:
            break
        reached.append(focused)
    names = [r.split("|")[0] for r in reached]
    wanted_stops = (
        "Skip to content",
        "Tasks",
        "Runs",
        "Sign out",
        "Run",
        "main.py (entry file)",  # the file tabs: one stop, the active file
        "Add file",
        "Code",
        "Input (stdin)",
        "Test cases",
    )
    for wanted in wanted_stops:
        assert wanted in names, (wanted, names)
    # Every stop shows where focus is.
    unmarked = [r for r in reached if r.split("|")[1] == "none" or r.split("|")[2] == "0px"]
    assert unmarked == [], reached
    assert names.count("Code") == 1  # left at the first Tab after Escape

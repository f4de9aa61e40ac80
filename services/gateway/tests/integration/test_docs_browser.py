"""/docs in a real browser: Swagger UI loads from the gateway alone (every other host is cut
off, as on a machine without internet), the page's CSP blocks nothing it needs, and Authorize
followed by "Try it out" calls a protected route with the token."""

from __future__ import annotations

import shutil
import uuid
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.async_api import Page, Route, async_playwright

CHROMIUM = shutil.which("chromium-headless-shell") or shutil.which("chromium")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="needs the Debian package chromium-headless-shell"
)
PASSWORD = "Sup3r-secret!"


async def _authorize(page: Page, token: str) -> None:
    await page.locator("button.authorize").first.click()
    await page.locator(".auth-container input").first.fill(token)
    # The first scheme's form (bearerAuth); the stream token's form follows it.
    await page.locator(".auth-btn-wrapper button.authorize").first.click()
    await page.locator(".auth-btn-wrapper button.btn-done").first.click()


async def _execute(page: Page, operation_id: str) -> tuple[str, str]:
    """Execute the (opened, in "Try it out") operation: the status code and response shown."""
    operation = page.locator(f"#operations-{operation_id}")
    await operation.locator("button.execute").click()
    table = operation.locator(".live-responses-table")
    await table.wait_for()
    status = await table.locator("tbody .response-col_status").first.inner_text()
    shown = await table.inner_text()
    await operation.locator("button.btn-clear").click()
    await table.wait_for(state="detached")
    return status.strip(), shown


async def _try_out(page: Page, operation_id: str) -> None:
    operation = page.locator(f"#operations-{operation_id}")
    await operation.locator(".opblock-summary").click()
    await operation.locator("button.try-out__btn").click()


async def test_swagger_ui_works_offline_and_authorize_sends_the_token(
    client: httpx.AsyncClient, gateway_url: str
) -> None:
    email = f"docs-{uuid.uuid4().hex[:8]}@example.com"
    signed = await client.post(
        "/api/v1/auth/register", json={"email": email, "password": PASSWORD, "name": "Docs"}
    )
    token = signed.json()["access_token"]
    gateway = urlsplit(gateway_url).netloc
    foreign: list[str] = []
    problems: list[str] = []

    async def only_the_gateway(route: Route) -> None:
        if urlsplit(route.request.url).netloc in (gateway, ""):
            await route.continue_()
        else:
            foreign.append(route.request.url)
            await route.abort()

    async with async_playwright() as p:
        browser = await p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            page = await browser.new_page()
            await page.route("**/*", only_the_gateway)
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(str(e)))
            await page.goto(f"{gateway_url}/docs")
            await page.locator(".opblock").first.wait_for()
            await _try_out(page, "auth-me")
            anonymous, _ = await _execute(page, "auth-me")
            await _authorize(page, token)
            status, shown = await _execute(page, "auth-me")
            # A body with its example, and a schema: more of Swagger UI under the same CSP.
            await _try_out(page, "tasks-create_task")
            await page.locator("#operations-tasks-create_task textarea.body-param__text").wait_for()
            task_schema = page.locator(".models article", has_text="TaskCreate").first
            await task_schema.locator("button.json-schema-2020-12-expand-deep-button").click()
            await task_schema.get_by_text("script_content").first.wait_for()
        finally:
            await browser.close()
    assert anonymous == "401"  # the control: before Authorize, no token is sent
    assert status == "200", shown
    assert email in shown
    assert foreign == []
    # Chromium reports what the page could not load (CSP refusals included) as console errors;
    # the one expected is the control's 401.
    assert [p for p in problems if "status of 401" not in p] == []

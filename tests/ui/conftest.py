"""The web UI in a real browser: Debian's headless Chromium driven by Playwright for Python
(through executable_path: Playwright's own browser download does not work here), against the
real stack (gateway serving web/dist, auth, tasks, scheduler, one executor with bubblewrap).

Every test fails on a console error or an uncaught page error, except the responses it
provokes on purpose, which it names (`ui.allow("status of 404")`). Screenshots of the pages
at 1280 and 390 px wide go to test-artifacts/ui/ (git-ignored).
"""

from __future__ import annotations

import asyncio
import re
import shutil
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, BrowserContext, Page, ViewportSize, async_playwright

CHROMIUM = shutil.which("chromium-headless-shell") or shutil.which("chromium")
PASSWORD = "Sup3r-secret!"
WIDE = ViewportSize(width=1280, height=900)
NARROW = ViewportSize(width=390, height=844)
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "ui"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if CHROMIUM is None:
        skip = pytest.mark.skip(reason="needs the Debian package chromium-headless-shell")
        for item in items:
            if "tests/ui/" in str(item.path):
                item.add_marker(skip)


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    """One headless Chromium for the session; each test gets its own context (cookies, storage)."""
    assert CHROMIUM is not None
    async with async_playwright() as p:
        launched = await p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        try:
            yield launched
        finally:
            await launched.close()


@dataclass
class UI:
    """A browser context on the stack, with its console watched."""

    base: str
    context: BrowserContext
    page: Page
    api: httpx.AsyncClient
    problems: list[str] = field(default_factory=list)
    allowed: list[str] = field(default_factory=list)

    def allow(self, *texts: str) -> None:
        """Console errors containing one of `texts` are expected in this test."""
        self.allowed.extend(texts)

    def watch(self, page: Page) -> None:
        def console(message: Any) -> None:
            if message.type == "error":
                self.problems.append(f"console: {message.text}")

        page.on("console", console)
        page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))

    def unexpected(self) -> list[str]:
        return [p for p in self.problems if not any(a in p for a in self.allowed)]

    async def new_page(self) -> Page:
        page = await self.context.new_page()
        self.watch(page)
        return page

    async def goto(self, path: str, page: Page | None = None) -> None:
        await (page or self.page).goto(f"{self.base}{path}")

    async def shoot(self, name: str, page: Page | None = None) -> None:
        """Screenshots of the current page at both widths."""
        target = page or self.page
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        for label, size in (("1280", WIDE), ("390", NARROW)):
            await target.set_viewport_size(size)
            await target.wait_for_timeout(150)
            await target.screenshot(path=str(ARTIFACTS / f"{name}-{label}.png"), full_page=True)
        await target.set_viewport_size(WIDE)

    async def sign_up(self, name: str = "Ada") -> str:
        """Sign up through the UI; returns the email."""
        email = f"{name.lower()}-{uuid.uuid4().hex[:8]}@example.com"
        await self.goto("/signup")
        await self.page.get_by_label("Name", exact=True).fill(name)
        await self.page.get_by_label("Email").fill(email)
        await self.page.get_by_label("Password").fill(PASSWORD)
        await self.page.get_by_role("button", name="Create account").click()
        await self.page.get_by_test_id("run").wait_for()
        return email

    async def sign_in(self, email: str) -> None:
        await self.goto("/signin")
        await self.page.get_by_label("Email").fill(email)
        await self.page.get_by_label("Password").fill(PASSWORD)
        await self.page.get_by_role("button", name="Sign in").click()
        await self.page.get_by_test_id("user-name").wait_for()

    async def set_code(self, code: str, page: Page | None = None) -> None:
        """Replace the editor's content through CodeMirror's own API.

        Playwright's synthetic text insertion makes Chromium's editing engine write style
        attributes into the editable DOM (CodeMirror replaces those nodes at once), which the
        page's CSP refuses and reports as console errors; nothing of the app's does that.
        """
        await (page or self.page).evaluate(
            """code => {
                const view = document.querySelector(".cm-content").cmTile.root.view;
                view.dispatch({changes: {from: 0, to: view.state.doc.length, insert: code}});
                view.focus();
            }""",
            code,
        )

    async def output(self, page: Page | None = None) -> str:
        return await (page or self.page).get_by_test_id("output").inner_text()

    async def final_status(self, page: Page | None = None, timeout: float = 30_000) -> str:
        line = (page or self.page).locator("[data-testid=status-line][data-phase=final]")
        await line.wait_for(timeout=timeout)
        return await line.inner_text()


@pytest.fixture
async def ui(
    browser: Browser, gateway_url: str, pipeline: Any, client: httpx.AsyncClient
) -> AsyncIterator[UI]:
    """A fresh browser context on a fresh stack; fails the test on unexpected console errors."""
    del pipeline  # running: the scheduler and an executor
    if not (Path(__file__).resolve().parents[2] / "web" / "dist" / "index.html").is_file():
        pytest.fail("the web UI is not built: run `make web` (make test does)")
    context = await browser.new_context(viewport=WIDE, base_url=gateway_url)
    page = await context.new_page()
    view = UI(base=gateway_url, context=context, page=page, api=client)
    view.watch(page)
    try:
        yield view
    finally:
        await context.close()
    assert view.unexpected() == []


async def api_user(client: httpx.AsyncClient, name: str) -> tuple[str, dict[str, str]]:
    """A user made through the API: (email, bearer header)."""
    email = f"{name.lower()}-{uuid.uuid4().hex[:8]}@example.com"
    resp = await client.post(
        "/api/v1/auth/register", json={"email": email, "password": PASSWORD, "name": name}
    )
    assert resp.status_code == 201, resp.text
    return email, {"Authorization": f"Bearer {resp.json()['access_token']}"}


async def wait_until(check: Callable[[], Awaitable[bool]], seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not await check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.1)


def lines(text: str) -> list[str]:
    return [line for line in re.split(r"\r?\n", text) if line.strip()]

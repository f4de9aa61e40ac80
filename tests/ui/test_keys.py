"""The API keys page: a key made in the UI works as a Bearer token within its scope, is listed,
and once revoked in the UI stops working within 2 s; a bad name shows the API's message, and a
hostile name shows as text."""

from __future__ import annotations

import time

from .conftest import UI, api_user, wait_until

HOSTILE = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>'


async def test_create_use_list_and_revoke_a_read_key(ui: UI) -> None:
    email, _ = await api_user(ui.api, "Keyholder")
    await ui.sign_in(email)
    await ui.page.get_by_role("link", name="API keys").click()
    await ui.page.get_by_role("heading", name="API keys").wait_for()
    await ui.page.get_by_text("No API keys yet.").wait_for()

    await ui.page.get_by_label("Name", exact=True).fill("ci-reader")
    await ui.page.get_by_role("checkbox", name="read:").check()
    assert not await ui.page.get_by_role("checkbox", name="run:").is_checked()
    assert not await ui.page.get_by_role("checkbox", name="manage:").is_checked()
    await ui.page.get_by_role("button", name="Create key").click()
    shown = ui.page.get_by_test_id("new-key")
    await shown.wait_for()
    assert "you will not see it again" in await shown.inner_text()
    key = (await ui.page.get_by_test_id("new-key-value").inner_text()).strip()
    assert key.startswith("vr_")
    await ui.shoot("keys-created")

    bearer = {"Authorization": f"Bearer {key}"}
    listed = await ui.api.get("/api/v1/tasks", headers=bearer)
    assert listed.status_code == 200, listed.text
    body = {"name": "nope", "script_type": "python", "script_content": "print(1)"}
    refused = await ui.api.post("/api/v1/tasks", json=body, headers=bearer)
    assert refused.status_code == 403, refused.text

    rows = ui.page.get_by_test_id("key-row")
    row = rows.filter(has_text="ci-reader")
    await row.wait_for()
    assert await rows.count() == 1
    text = await row.inner_text()
    assert key[:8] in text  # the prefix, never the whole key
    assert key not in text
    assert "read" in text

    await row.get_by_role("button", name="Revoke…").click()
    await row.get_by_role("button", name="Keep it").click()  # changed one's mind: still there
    await row.get_by_role("button", name="Revoke…").click()
    async with ui.page.expect_response(lambda r: r.request.method == "DELETE") as deleted:
        await row.get_by_role("button", name="Revoke for good").click()
    assert (await deleted.value).status == 204
    revoked_at = time.monotonic()

    async def refused_now() -> bool:
        resp = await ui.api.get("/api/v1/tasks", headers=bearer)
        return resp.status_code == 401

    await wait_until(refused_now, seconds=2)  # refused within 2 s of the revocation
    assert time.monotonic() - revoked_at < 2
    await ui.page.get_by_text("No API keys yet.").wait_for()


async def test_an_empty_name_shows_the_api_message(ui: UI) -> None:
    email, _ = await api_user(ui.api, "Blank")
    await ui.sign_in(email)
    await ui.goto("/keys")
    await ui.page.get_by_role("button", name="Create key").click()
    ui.allow("status of 400", "status of 422")  # the API refuses the empty name
    error = ui.page.get_by_test_id("key-name-error")
    await error.wait_for()
    assert await error.inner_text() == "name must not be blank"  # the API's own words
    assert await ui.page.get_by_label("Name", exact=True).get_attribute("aria-invalid") == "true"
    assert await ui.page.get_by_test_id("new-key").count() == 0
    await ui.shoot("keys-invalid")


async def test_a_hostile_key_name_shows_as_text(ui: UI) -> None:
    email, _ = await api_user(ui.api, "Mallory")
    await ui.sign_in(email)
    await ui.goto("/keys")
    await ui.page.get_by_label("Name", exact=True).fill(HOSTILE)
    await ui.page.get_by_role("button", name="Create key").click()
    await ui.page.get_by_test_id("new-key").wait_for()
    row = ui.page.get_by_test_id("key-row").first
    await row.wait_for()
    assert await row.locator("td").first.inner_text() == HOSTILE
    assert HOSTILE in await ui.page.get_by_test_id("new-key").inner_text()
    assert await ui.page.locator("main img, main script").count() == 0
    assert await ui.page.evaluate("window.__xss") is None

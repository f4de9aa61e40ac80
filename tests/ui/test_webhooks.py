"""The webhooks page against a real receiver on loopback (let through by the operator's
allow-list): a webhook made in the UI shows the signing secret once and that secret verifies
what the receiver gets; a run's deliveries appear in the log with their attempts; a 410 shows
as the reason it was disabled and a redelivery is refused (409) until it is enabled again; a
hostile URL is refused at its field; disable, enable, edit, delete; rotation shows the new
secret once, with the end of the overlap; a callback URL in the editor shows its secret once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.e2e.test_judge import one_shot
from tests.e2e.webhook_receiver import LOOPBACK_WEBHOOKS, Receiver, running_receiver

from .conftest import UI, api_user, wait_until

HOOKS = "/api/v1/webhooks"
HELLO = {"script_type": "python", "script_content": "print('hi')"}


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with running_receiver() as server:
        yield server


@pytest.fixture
def tasks_settings_overrides() -> dict[str, Any]:
    return dict(LOOPBACK_WEBHOOKS)


async def create_in_ui(ui: UI, url: str, description: str = "") -> None:
    await ui.page.get_by_label("URL", exact=True).fill(url)
    if description:
        await ui.page.get_by_label("Description (optional)").fill(description)
    await ui.page.get_by_role("button", name="Create webhook").click()


async def states_in_log(ui: UI, count: int, state: str) -> None:
    """Wait until the log shows `count` deliveries in `state` (Refresh when it stopped looking)."""
    rows = ui.page.locator(f"[data-testid=delivery-row][data-state={state}]")

    async def shown() -> bool:
        if await rows.count() >= count:
            return True
        await ui.page.get_by_role("button", name="Refresh").click()
        await ui.page.wait_for_timeout(1000)  # the webhook calls share an hourly limit
        return await rows.count() >= count

    await wait_until(shown, seconds=30)


async def test_create_see_the_secret_once_and_the_delivery_log(ui: UI, receiver: Receiver) -> None:
    email, auth = await api_user(ui.api, "Hooker")
    await ui.sign_in(email)
    await ui.page.get_by_role("link", name="Webhooks").click()
    await ui.page.get_by_role("heading", name="Webhooks", exact=True).wait_for()
    await ui.page.get_by_text("No webhooks yet.").wait_for()
    await ui.page.get_by_test_id("secret-state").get_by_text("None yet").wait_for()
    for box in await ui.page.get_by_role("checkbox").all():
        assert await box.is_checked()  # every event by default

    await create_in_ui(ui, receiver.url("hook"), "ci notifications")
    shown = ui.page.get_by_test_id("new-secret")
    await shown.wait_for()
    assert "you won't see this again" in await shown.inner_text()
    assert await shown.get_by_role("button", name="Copy secret").is_visible()
    secret = (await ui.page.get_by_test_id("new-secret-value").inner_text()).strip()
    assert secret.startswith("whsec_")
    row = ui.page.get_by_test_id("webhook-row").filter(has_text=receiver.url("hook"))
    await row.wait_for()
    assert "Enabled" in await row.inner_text()
    assert "ci notifications" in await row.inner_text()
    await ui.page.get_by_test_id("secret-state").get_by_text("In use since").wait_for()
    await ui.shoot("webhooks-created")

    # A run's events reach the receiver, signed with the secret the page showed.
    execution = await one_shot(ui.api, auth, HELLO)
    got = await receiver.wait_for(2, "hook")
    assert {d.verified(secret)["data"]["execution_id"] for d in got} == {execution["id"]}

    await row.get_by_role("link").click()
    await ui.page.get_by_test_id("webhook-state").get_by_text("Enabled").wait_for()
    await states_in_log(ui, 2, "delivered")
    delivered = ui.page.locator("[data-testid=delivery-row][data-state=delivered]")
    events = {await r.locator("td").nth(1).inner_text() for r in await delivered.all()}
    assert events == {"execution.started", "execution.completed"}
    first = delivered.first
    assert execution["id"][:8] in await first.inner_text()
    await first.get_by_text("1 attempt").click()
    attempt = first.get_by_test_id("attempt")
    await attempt.wait_for()
    assert "HTTP 200" in await attempt.inner_text()
    assert " ms" in await attempt.inner_text()
    await ui.shoot("webhook-deliveries")

    # Never again: not on the list after a reload, nor in any webhook body.
    await ui.goto("/webhooks")
    await ui.page.get_by_test_id("webhook-row").first.wait_for()
    assert await ui.page.get_by_test_id("new-secret").count() == 0
    assert secret not in await ui.page.content()


async def test_a_410_disables_it_and_redelivery_waits_for_enabling(
    ui: UI, receiver: Receiver
) -> None:
    email, auth = await api_user(ui.api, "Gone")
    receiver.plan["gone"] = [410]
    resp = await ui.api.post(
        HOOKS, json={"url": receiver.url("gone"), "events": ["execution.completed"]}, headers=auth
    )
    assert resp.status_code == 201, resp.text
    hook = resp.json()
    await one_shot(ui.api, auth, HELLO)
    await receiver.wait_for(1, "gone")

    await ui.sign_in(email)
    await ui.goto(f"/webhooks/{hook['id']}")
    await states_in_log(ui, 1, "failed")
    state = ui.page.get_by_test_id("webhook-state")
    await state.get_by_text("Disabled: the receiver answered 410 Gone").wait_for()

    ui.allow("status of 409")  # the API refuses to redeliver to a disabled webhook
    row = ui.page.get_by_test_id("delivery-row").first
    await row.get_by_role("button", name="Redeliver").click()
    refused = row.get_by_test_id("redeliver-error")
    await refused.wait_for()
    assert "disabled" in await refused.inner_text()
    await ui.shoot("webhook-redeliver-refused")

    await ui.page.get_by_role("button", name="Enable", exact=True).click()
    await state.get_by_text("Enabled").wait_for()
    await row.get_by_role("button", name="Redeliver").click()
    # The same message again, now answered 200: the log follows it to delivered.
    await ui.page.locator("[data-testid=delivery-row][data-state=delivered]").wait_for(
        timeout=20_000
    )
    first, second = await receiver.wait_for(2, "gone")
    assert first.message_id == second.message_id
    await row.get_by_text("2 attempts").click()
    answers = [await a.inner_text() for a in await row.get_by_test_id("attempt").all()]
    assert "HTTP 410" in answers[0], answers
    assert "HTTP 200" in answers[1], answers


async def test_a_hostile_url_is_refused_at_its_field(ui: UI) -> None:
    email, auth = await api_user(ui.api, "Mallory")
    await ui.sign_in(email)
    await ui.goto("/webhooks")
    ui.allow("status of 400")  # the API refuses the private address
    await create_in_ui(ui, "http://10.0.0.1/x")
    error = ui.page.get_by_test_id("hook-url-error")
    await error.wait_for()
    # The API's own words (test stacks send to allow-listed addresses only, so that is the why).
    assert (await error.inner_text()).startswith("Unsafe webhook URL: 10.0.0.1 is")
    assert await ui.page.get_by_label("URL", exact=True).get_attribute("aria-invalid") == "true"
    assert await ui.page.get_by_test_id("new-secret").count() == 0
    await ui.page.get_by_text("No webhooks yet.").wait_for()
    await ui.shoot("webhooks-invalid")

    # No event at all is refused before asking the API (which would read it as every event).
    await ui.page.get_by_label("URL", exact=True).fill("https://example.com/hook")
    for box in await ui.page.get_by_role("checkbox").all():
        await box.uncheck()
    await ui.page.get_by_role("button", name="Create webhook").click()
    await ui.page.get_by_test_id("hook-events-error").wait_for()
    assert await ui.page.get_by_test_id("hook-url-error").count() == 0
    listed = await ui.api.get(HOOKS, headers=auth)
    assert listed.json()["webhooks"] == []


async def test_disable_enable_edit_and_delete(ui: UI, receiver: Receiver) -> None:
    email, auth = await api_user(ui.api, "Toggler")
    await ui.sign_in(email)
    await ui.goto("/webhooks")
    await create_in_ui(ui, receiver.url("t"))
    row = ui.page.get_by_test_id("webhook-row")
    await row.wait_for()
    hook_id = (await ui.api.get(HOOKS, headers=auth)).json()["webhooks"][0]["id"]

    async def enabled() -> bool:
        found: bool = (await ui.api.get(f"{HOOKS}/{hook_id}", headers=auth)).json()["enabled"]
        return found

    await row.get_by_role("button", name="Disable").click()
    await row.get_by_test_id("webhook-state").get_by_text("Disabled").wait_for()
    assert not await enabled()
    await row.get_by_role("button", name="Enable").click()
    await row.get_by_test_id("webhook-state").get_by_text("Enabled").wait_for()
    assert await enabled()

    # Edit on its page: fewer events, a description; a bad URL is refused at the field.
    await row.get_by_role("link").click()
    await ui.page.get_by_text("Edit", exact=True).click()
    await ui.page.get_by_role("checkbox", name="started:").uncheck()
    await ui.page.get_by_label("Description (optional)").fill("only endings")
    await ui.page.get_by_label("URL", exact=True).fill("ftp://example.com/hook")
    ui.allow("status of 400")
    await ui.page.get_by_role("button", name="Save").click()
    await ui.page.get_by_test_id("hook-url-error").wait_for()
    await ui.page.get_by_label("URL", exact=True).fill(receiver.url("t2"))
    await ui.page.get_by_role("button", name="Save").click()
    await ui.page.get_by_test_id("webhook-url").get_by_text(receiver.url("t2")).wait_for()
    body = (await ui.api.get(f"{HOOKS}/{hook_id}", headers=auth)).json()
    assert body["url"] == receiver.url("t2")
    assert body["description"] == "only endings"
    assert "execution.started" not in body["events"]
    assert len(body["events"]) == 4

    await ui.page.get_by_role("link", name="Webhooks").first.click()
    row = ui.page.get_by_test_id("webhook-row")
    await row.get_by_role("button", name="Delete…").click()
    await row.get_by_role("button", name="Keep it").click()  # changed one's mind: still there
    await row.get_by_role("button", name="Delete…").click()
    async with ui.page.expect_response(lambda r: r.request.method == "DELETE") as deleted:
        await row.get_by_role("button", name="Delete for good").click()
    assert (await deleted.value).status == 204
    await ui.page.get_by_text("No webhooks yet.").wait_for()
    assert (await ui.api.get(f"{HOOKS}/{hook_id}", headers=auth)).status_code == 404


async def test_rotating_shows_the_new_secret_once_and_the_overlap_end(
    ui: UI, receiver: Receiver
) -> None:
    email, auth = await api_user(ui.api, "Rotor")
    resp = await ui.api.post(
        HOOKS, json={"url": receiver.url("rot"), "events": ["execution.completed"]}, headers=auth
    )
    old = resp.json()["secret"]
    await ui.sign_in(email)
    await ui.goto("/webhooks")
    panel = ui.page.get_by_test_id("signing-secret")
    await panel.get_by_text("In use since").wait_for()
    await panel.get_by_role("button", name="Rotate secret…").click()
    await panel.get_by_role("button", name="Keep it").click()
    await panel.get_by_role("button", name="Rotate secret…").click()
    await panel.get_by_role("button", name="Rotate now").click()
    shown = ui.page.get_by_test_id("rotated-secret")
    await shown.wait_for()
    assert "you won't see this again" in await shown.inner_text()
    new = (await ui.page.get_by_test_id("rotated-secret-value").inner_text()).strip()
    assert new.startswith("whsec_")
    assert new != old
    overlap = await ui.page.get_by_test_id("overlap-end").inner_text()
    assert "keeps signing beside it until" in overlap
    await panel.get_by_text("The previous secret signs too until").wait_for()
    await ui.shoot("webhooks-rotated")

    await one_shot(ui.api, auth, HELLO)
    (got,) = await receiver.wait_for(1, "rot")
    assert got.verified(new) == got.verified(old)  # both sign during the overlap

    await shown.get_by_role("button", name="Done").click()
    assert await ui.page.get_by_test_id("rotated-secret").count() == 0


async def test_a_callback_url_in_the_editor_shows_its_secret_once(
    ui: UI, receiver: Receiver
) -> None:
    await ui.sign_up("Caller")
    await ui.set_code("print('called back')")
    await ui.page.get_by_test_id("save-task").uncheck()
    await ui.page.get_by_text("Callback URL", exact=True).click()
    await ui.page.get_by_label("Every event of this run").fill(receiver.url("cb"))
    await ui.page.get_by_test_id("run").click()
    assert "completed" in await ui.final_status()
    shown = ui.page.get_by_test_id("webhook-secret")
    await shown.wait_for()
    assert "you won't see this again" in await shown.inner_text()
    secret = (await ui.page.get_by_test_id("webhook-secret-value").inner_text()).strip()
    got = await receiver.wait_for(2, "cb")
    assert {d.verified(secret)["type"] for d in got} == {
        "execution.started",
        "execution.completed",
    }
    await ui.shoot("editor-callback-secret")

    # A hostile callback URL is refused at its field.
    ui.allow("status of 400")
    await ui.page.get_by_label("Every event of this run").fill("http://10.0.0.1/x")
    await ui.page.get_by_test_id("run").click()
    await ui.page.get_by_test_id("callback-url-error").wait_for()

    # Saved on a task, it comes back with the task; the secret exists already: not shown again.
    await ui.page.get_by_test_id("save-task").check()
    await ui.page.get_by_label("Every event of each run of this task").fill(receiver.url("task"))
    await ui.page.get_by_test_id("run").click()
    assert "completed" in await ui.final_status()
    task = await receiver.wait_for(2, "task")
    assert {d.verified(secret)["type"] for d in task} == {
        "execution.started",
        "execution.completed",
    }
    assert "/editor/" in ui.page.url
    await ui.page.reload()
    field = ui.page.get_by_label("Every event of each run of this task")
    await field.wait_for()
    assert await field.input_value() == receiver.url("task")
    assert await ui.page.get_by_test_id("webhook-secret").count() == 0

"""Sharing a task from its page: the owner shares it by email as viewer, changes the role to
runner by sharing again, and revokes it after a confirmation; sharing with one's own email is
refused at the field. A viewer sees the shared task (without its environment) and neither
the owner's controls nor the sharing panel. A user lists the tasks shared with them apart from
their own, and leaves one from its page."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from .conftest import UI, api_user

TASK = {"name": "shared-probe", "script_type": "python", "script_content": "print('hi')"}


async def create_task(client: httpx.AsyncClient, auth: dict[str, str], **extra: Any) -> str:
    resp = await client.post("/api/v1/tasks", json={**TASK, **extra}, headers=auth)
    assert resp.status_code == 201, resp.text
    task_id: str = resp.json()["id"]
    return task_id


async def test_share_change_the_role_and_revoke(ui: UI) -> None:
    email, auth = await api_user(ui.api, "Owner")
    task_id = await create_task(ui.api, auth)
    grace = f"grace-{uuid.uuid4().hex[:8]}@example.com"  # no account yet: shared all the same
    await ui.sign_in(email)
    await ui.goto(f"/tasks/{task_id}")
    panel = ui.page.get_by_test_id("sharing")
    await panel.get_by_text("Not shared with anyone.").wait_for()

    ui.allow("status of 400")  # one's own email is refused
    await panel.get_by_label("Email").fill(email)
    await panel.get_by_role("button", name="Share").click()
    await panel.get_by_test_id("share-email-error").wait_for()
    assert await panel.get_by_label("Email").get_attribute("aria-invalid") == "true"

    await panel.get_by_label("Email").fill(grace.upper())
    await panel.get_by_label("Role").select_option("viewer")
    await panel.get_by_role("button", name="Share").click()
    rows = panel.get_by_test_id("share-row")
    await rows.filter(has_text=grace).filter(has_text="viewer").wait_for()
    assert await panel.get_by_test_id("share-email-error").count() == 0

    await panel.get_by_label("Email").fill(grace)
    await panel.get_by_label("Role").select_option("runner")
    await panel.get_by_role("button", name="Share").click()
    await rows.filter(has_text="runner").wait_for()
    assert await rows.count() == 1
    await ui.shoot("task-sharing")

    listed = await ui.api.get(f"/api/v1/tasks/{task_id}/shares", headers=auth)
    assert [(s["email"], s["role"]) for s in listed.json()["shares"]] == [(grace, "runner")]

    row = rows.first
    await row.get_by_role("button", name="Revoke…").click()
    await row.get_by_role("button", name="Keep it").click()
    await row.get_by_role("button", name="Revoke…").click()
    await row.get_by_role("button", name="Revoke for good").click()
    await panel.get_by_text("Not shared with anyone.").wait_for()
    listed = await ui.api.get(f"/api/v1/tasks/{task_id}/shares", headers=auth)
    assert listed.json()["shares"] == []


async def test_a_viewer_sees_the_task_without_the_owners_controls(ui: UI) -> None:
    _, owner = await api_user(ui.api, "Owner")
    viewer, _ = await api_user(ui.api, "Viewer")
    task_id = await create_task(ui.api, owner, env={"TOKEN": "s3cret"})
    resp = await ui.api.post(
        f"/api/v1/tasks/{task_id}/shares", json={"email": viewer, "role": "viewer"}, headers=owner
    )
    assert resp.status_code == 201, resp.text

    await ui.sign_in(viewer)
    await ui.goto(f"/tasks/{task_id}")
    await ui.page.get_by_role("heading", name="shared-probe").wait_for()
    assert "viewer" in await ui.page.get_by_test_id("shared-role").inner_text()
    assert "print('hi')" in await ui.page.get_by_test_id("task-code").inner_text()
    for name in ("Run now", "Delete…"):
        assert await ui.page.get_by_role("button", name=name).count() == 0
    assert await ui.page.get_by_role("link", name="Open in editor").count() == 0
    assert await ui.page.get_by_test_id("sharing").count() == 0
    assert "TOKEN" not in await ui.page.content()


async def test_a_user_lists_the_tasks_shared_with_them_and_leaves_one(ui: UI) -> None:
    _, owner = await api_user(ui.api, "Owner")
    email, mine = await api_user(ui.api, "Grace")
    own = await create_task(ui.api, mine, name="grace-own")
    shared = {
        role: await create_task(ui.api, owner, name=f"shared-as-{role}")
        for role in ("viewer", "runner")
    }
    for role, task_id in shared.items():
        resp = await ui.api.post(
            f"/api/v1/tasks/{task_id}/shares", json={"email": email, "role": role}, headers=owner
        )
        assert resp.status_code == 201, resp.text

    await ui.sign_in(email)
    await ui.goto("/tasks")
    rows = ui.page.get_by_test_id("task-list").locator("tbody tr")
    await rows.filter(has_text="grace-own").wait_for()
    assert await rows.count() == 1  # her own list: not the tasks shared with her
    await ui.page.get_by_label("Whose").select_option("with_me")
    await ui.page.get_by_role("button", name="Apply").click()
    await ui.page.wait_for_url("**/tasks?shared=with_me")
    await rows.filter(has_text="shared-as-runner").filter(has_text="runner").wait_for()
    await rows.filter(has_text="shared-as-viewer").filter(has_text="viewer").wait_for()
    assert await rows.count() == 2
    assert await rows.filter(has_text="grace-own").count() == 0
    await ui.shoot("tasks-shared-with-me")

    await rows.get_by_role("link", name="shared-as-viewer").click()
    await ui.page.get_by_role("heading", name="shared-as-viewer").wait_for()
    await ui.page.get_by_role("button", name="Leave…").click()
    await ui.page.get_by_role("button", name="Stay").click()
    await ui.page.get_by_role("button", name="Leave…").click()
    await ui.page.get_by_role("button", name="Leave for good").click()
    await ui.page.wait_for_url("**/tasks?shared=with_me")
    await rows.filter(has_text="shared-as-runner").wait_for()
    assert await rows.count() == 1

    listed = await ui.api.get(f"/api/v1/tasks/{shared['viewer']}/shares", headers=owner)
    assert listed.json()["shares"] == []
    kept = await ui.api.get(f"/api/v1/tasks/{shared['runner']}/shares", headers=owner)
    assert [s["email"] for s in kept.json()["shares"]] == [email]
    gone = await ui.api.get(f"/api/v1/tasks/{shared['viewer']}", headers=mine)
    assert gone.status_code == 404
    assert (await ui.api.get(f"/api/v1/tasks/{own}", headers=mine)).status_code == 200

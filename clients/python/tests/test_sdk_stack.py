"""The SDK against the real stack: the sync and the async client over every resource, and
the refresh of a credentials file shared by two clients (refresh tokens rotate, with reuse
detection: spending one twice would sign both out).

The gateway runs in this test's event loop, so the sync client runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest
from client_harness import PASSWORD

from voidrunner.client import (
    AsyncClient,
    BadRequest,
    Client,
    Conflict,
    CredentialsFile,
    NotFound,
    RunSpec,
    TaskSpec,
    TaskUpdate,
    Unauthorized,
)
from voidrunner.client import (
    TestCase as Case,
)
from voidrunner.client import _ops as ops

pytestmark = pytest.mark.sandbox


def _email() -> str:
    return f"sdk-{uuid.uuid4().hex[:8]}@example.com"


def sync_scenario(url: str, creds_path: Path) -> None:
    with Client(url, credentials_file=creds_path) as vr:
        email = _email()
        vr.auth.register(email, PASSWORD, "Ada")
        assert creds_path.stat().st_mode & 0o777 == 0o600
        assert vr.auth.me().email == email
        assert "python" in {r.name for r in vr.runtimes.list()}

        made = [
            vr.tasks.create(TaskSpec(name=f"t{i}", script_type="python", script_content="print(1)"))
            for i in range(3)
        ]
        # Pages of 2: the iterator follows the cursor to the third task.
        assert [t.id for t in vr.tasks.list(page_size=2)] == [t.id for t in reversed(made)]
        task = vr.tasks.update(made[0].id, TaskUpdate(description="first"))
        assert vr.tasks.get(task.id).description == "first"

        judged = vr.tasks.create(
            TaskSpec(
                name="judged",
                script_type="python",
                script_content="print(input()[::-1])",
                test_cases=[
                    Case(name="one", stdin="abc\n", expected_stdout="cba\n"),
                    Case(name="two", stdin="xy\n", expected_stdout="nope\n"),
                ],
            )
        )
        assert judged.test_cases is not None
        assert [c.name for c in judged.test_cases] == ["one", "two"]
        execution = vr.executions.start(judged.id, wait=30)
        assert execution.final
        assert (execution.passed, execution.total, execution.verdict) == (1, 2, "wrong_answer")
        assert execution.cases is not None
        assert [c.verdict for c in execution.cases] == ["accepted", "wrong_answer"]
        assert [e.id for e in vr.executions.list(task_id=judged.id)] == [execution.id]

        run = vr.runs.create(
            RunSpec(
                script_type="python",
                script_content="print('hi')\nprint('oops', file=__import__('sys').stderr)",
            )
        )
        events = list(vr.executions.logs(run.id))
        assert events[-1].event == "end"
        assert events[-1].status == "completed"
        assert b"".join(e.data for e in events if e.event == "stdout") == b"hi\n"
        assert b"".join(e.data for e in events if e.event == "stderr") == b"oops\n"
        done = vr.executions.wait(run.id, timeout=10)
        assert (done.status, done.stdout, done.task_id) == ("completed", "hi\n", None)
        assert run.id in {e.id for e in vr.executions.list()}

        batch = vr.runs.batch(
            [RunSpec(script_type="python", script_content=f"print({i})") for i in range(2)]
        )
        assert batch.webhook_secret is None  # no callback_url: no secret made
        waited = [vr.executions.wait(e.id, timeout=20).stdout for e in batch.executions]
        assert waited == ["0\n", "1\n"]

        sleeper = vr.runs.create(
            RunSpec(script_type="python", script_content="import time\ntime.sleep(30)")
        )
        vr.executions.cancel(sleeper.id)
        assert vr.executions.wait(sleeper.id, timeout=20).status == "cancelled"
        with pytest.raises(Conflict):
            vr.executions.cancel(sleeper.id)

        with pytest.raises(NotFound) as missing:
            vr.tasks.get(uuid.uuid4())
        assert missing.value.error == "Task not found"
        with pytest.raises(BadRequest) as bad:
            vr.tasks.create(TaskSpec(name="a/b", script_type="python", script_content=" "))
        assert bad.value.error == "Validation failed"
        assert {"name", "script_content"} <= {v.field for v in bad.value.validation_errors}

        for task in made:
            vr.tasks.delete(task.id)
        with pytest.raises(NotFound):
            vr.tasks.get(made[0].id)

        before = CredentialsFile(creds_path).load()
        vr.auth.refresh()
        after = CredentialsFile(creds_path).load()
        assert before is not None
        assert after is not None
        assert after.refresh_token != before.refresh_token
        assert vr.auth.me().email == email

        vr.auth.logout()
        assert not creds_path.exists()
        with pytest.raises(Unauthorized), Client(url, token=before.access_token) as old:
            old.auth.me()


async def test_sync_client_over_every_resource(
    gateway_url: str, pipeline: Any, tmp_path: Path
) -> None:
    await asyncio.to_thread(sync_scenario, gateway_url, tmp_path / "credentials.json")


async def test_async_client_over_every_resource(
    gateway_url: str, pipeline: Any, tmp_path: Path
) -> None:
    async with AsyncClient(gateway_url, credentials_file=tmp_path / "c.json") as vr:
        email = _email()
        await vr.auth.register(email, PASSWORD, "Grace")
        await vr.auth.logout()
        await vr.auth.login(email, PASSWORD)
        assert (await vr.auth.me()).email == email
        assert "python" in {r.name for r in await vr.runtimes.list()}
        made = [
            await vr.tasks.create(
                TaskSpec(name=f"a{i}", script_type="python", script_content="print(2)")
            )
            for i in range(3)
        ]
        listed = [t.id async for t in vr.tasks.list(page_size=2)]
        assert listed == [t.id for t in reversed(made)]
        await vr.tasks.update(made[1].id, TaskUpdate(priority=9))
        assert (await vr.tasks.get(made[1].id)).priority == 9
        execution = await vr.executions.start(made[1].id)
        events = [e async for e in vr.executions.logs(execution.id)]
        assert events[-1].event == "end"
        assert b"".join(e.data for e in events if e.event == "stdout") == b"2\n"
        done = await vr.executions.wait(execution.id, timeout=10)
        assert done.return_code == 0
        assert [e.id async for e in vr.executions.list(task_id=made[1].id)] == [execution.id]
        run = await vr.runs.create(
            RunSpec(script_type="python", script_content="import sys\nsys.exit(4)"), wait=30
        )
        assert (run.status, run.return_code) == ("failed", 4)
        sleeper = await vr.runs.create(
            RunSpec(script_type="python", script_content="import time\ntime.sleep(30)")
        )
        await vr.executions.cancel(sleeper.id)
        assert (await vr.executions.wait(sleeper.id, timeout=20)).status == "cancelled"
        await vr.auth.refresh()
        assert (await vr.auth.me()).email == email
        await vr.tasks.delete(made[0].id)
        with pytest.raises(NotFound):
            await vr.tasks.delete(made[0].id)


def shared_file_scenario(url: str, path: Path) -> None:
    with Client(url, credentials_file=path) as first:
        first.auth.register(_email(), PASSWORD, "Lin")
    # Two processes' worth of clients, both holding the same refresh token in memory.
    one, two = Client(url, credentials_file=path), Client(url, credentials_file=path)
    spent = one.credentials.refresh_token
    assert spent is not None
    one.auth.refresh()
    # `two` must adopt one's new tokens from the file, not spend the old refresh token again
    # (which would revoke the whole family and sign both out).
    two.auth.refresh()
    assert two.credentials.refresh_token == one.credentials.refresh_token != spent
    assert one.auth.me().email == two.auth.me().email
    # And the spent token really is dead: the lock is what kept us from using it.
    with pytest.raises(Unauthorized), Client(url) as bare:
        bare._do(ops.refresh(spent))
    one.close()
    two.close()


async def test_two_clients_sharing_a_file_refresh_once(gateway_url: str, tmp_path: Path) -> None:
    await asyncio.to_thread(shared_file_scenario, gateway_url, tmp_path / "shared.json")

"""Results through the whole pipeline: REST → tasks → outbox → scheduler → NATS → executor (real
bwrap sandboxes) → NATS → recorder → PostgreSQL → REST and SSE. Every figure a result carries is
checked where the user reads it."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import time
from typing import Any

import httpx
import pytest

from tests.e2e.sse import events
from tests.e2e.test_pipeline import create_task, login, run

pytestmark = pytest.mark.sandbox

MiB = 1024 * 1024


async def _runs_of(client: httpx.AsyncClient, auth: dict[str, str], task_id: str) -> int:
    resp = await client.get(f"/api/v1/tasks/{task_id}/executions", headers=auth)
    assert resp.status_code == 200
    return len(resp.json()["executions"])


@pytest.mark.parametrize("size", [2 * MiB, 10 * MiB])
async def test_large_outputs_come_back_whole(
    client: httpx.AsyncClient, pipeline: object, size: int
) -> None:
    auth = await login(client)
    # Every line differs, so a lost, doubled or reordered part shows in the digest.
    src = (
        "import sys\nw = sys.stdout.write\n"
        f"n = {size // 16}\n"
        "for i in range(n):\n    w('%015d\\n' % i)\n"
    )
    task_id = await create_task(client, auth, src, max_output_bytes=size, timeout_seconds=60)
    started = time.monotonic()
    done = await run(client, auth, task_id, wait=60)
    elapsed = time.monotonic() - started
    assert done["status"] == "completed", {k: v for k, v in done.items() if k != "stdout"}
    expected = "".join(f"{i:015d}\n" for i in range(size // 16))
    assert len(done["stdout"]) == size
    assert (
        hashlib.sha256(done["stdout"].encode()).digest()
        == hashlib.sha256(expected.encode()).digest()
    )
    assert done["stdout_truncated"] is False
    assert "stdout_base64" not in done  # exact text
    assert done["attempt"] == 1
    assert await _runs_of(client, auth, task_id) == 1
    assert elapsed < 30, f"took {elapsed:.1f} s"
    # The list carries summaries: no output.
    listed = (await client.get(f"/api/v1/tasks/{task_id}/executions", headers=auth)).json()
    assert "stdout" not in listed["executions"][0]
    # The log replay rebuilds the stored output from its chunks.
    url = f"/api/v1/executions/{done['id']}/logs"
    replay = [e async for e in events(client, url, auth)]
    assert "".join(e.data["text"] for e in replay if e.name == "stdout") == expected
    assert replay[-1].name == "end"


@pytest.mark.parametrize("stream", ["stdout", "stderr"])
async def test_a_flood_past_the_cap_is_cut_flagged_and_stopped(
    client: httpx.AsyncClient, pipeline: object, stream: str
) -> None:
    auth = await login(client)
    src = f"import sys\nwhile True:\n    sys.{stream}.write('flood' * 1000)\n"
    cap = 64 * 1024
    task_id = await create_task(client, auth, src, max_output_bytes=cap, timeout_seconds=30)
    done = await run(client, auth, task_id)
    assert done["status"] == "failed"
    assert done["termination_reason"] == "output_limit"
    assert len(done[stream]) == cap
    assert done[f"{stream}_truncated"] is True
    other = "stderr" if stream == "stdout" else "stdout"
    assert done[f"{other}_truncated"] is False
    assert done["execution_time_ms"] < 10_000


async def test_binary_output_comes_back_exact_in_base64(
    client: httpx.AsyncClient, pipeline: object
) -> None:
    auth = await login(client)
    data = bytes(range(256)) * 3
    src = f"import sys\nsys.stdout.buffer.write({data!r})\nsys.stderr.write('é ok')\n"
    done = await run(client, auth, await create_task(client, auth, src))
    assert done["status"] == "completed"
    assert base64.b64decode(done["stdout_base64"]) == data
    assert done["stdout"] == data.decode("utf-8", "replace").replace("\x00", "\ufffd")
    assert done["stderr"] == "é ok"
    assert "stderr_base64" not in done
    replay = [e async for e in events(client, f"/api/v1/executions/{done['id']}/logs", auth)]
    chunks = [e for e in replay if e.name == "stdout"]
    assert b"".join(base64.b64decode(e.data["base64"]) for e in chunks) == data


async def test_a_cut_never_splits_a_character(client: httpx.AsyncClient, pipeline: object) -> None:
    auth = await login(client)
    # 1025 two-byte characters under a 2049-byte cap: the cut falls inside the last one.
    src = "import sys\nsys.stdout.write('é' * 1025)\nsys.stdout.flush()\n"
    done = await run(client, auth, await create_task(client, auth, src, max_output_bytes=2049))
    assert done["stdout_truncated"] is True
    assert done["stdout"] == "é" * 1024  # no U+FFFD for the half character
    assert base64.b64decode(done["stdout_base64"]) == ("é" * 1025).encode()[:2049]


async def test_cancel_keeps_what_the_run_printed(
    client: httpx.AsyncClient, pipeline: object
) -> None:
    auth = await login(client)
    src = (
        "import time\nfor i in range(100):\n    print('line', i, flush=True)\n    time.sleep(0.2)\n"
    )
    task_id = await create_task(client, auth, src)
    execution = (await client.post(f"/api/v1/tasks/{task_id}/executions", headers=auth)).json()
    url = f"/api/v1/executions/{execution['id']}"
    seen: list[Any] = []
    async for event in events(client, f"{url}/logs", auth):
        seen.append(event)
        if event.name == "stdout" and sum(e.name == "stdout" for e in seen) == 3:
            cancel = await client.delete(url, headers=auth)
            assert cancel.status_code == 200
    assert seen[-1].name == "end"
    assert seen[-1].data["status"] == "cancelled"
    live = "".join(e.data["text"] for e in seen if e.name == "stdout")
    assert live.startswith("line 0\nline 1\nline 2\n")
    for _ in range(50):
        got = (await client.get(url, headers=auth)).json()
        if got.get("stdout"):
            break
        await asyncio.sleep(0.1)
    assert got["status"] == "cancelled"
    assert got["termination_reason"] == "cancelled"
    assert got["stdout"].startswith("line 0\nline 1\nline 2\n")
    assert got["execution_time_ms"] > 0
    # The replay shows it too, and says how it ended.
    replay = [e async for e in events(client, f"{url}/logs", auth)]
    assert "".join(e.data["text"] for e in replay if e.name == "stdout") == got["stdout"]
    assert replay[-1].data["status"] == "cancelled"


async def test_compile_stage_is_reported_apart(client: httpx.AsyncClient, pipeline: object) -> None:
    auth = await login(client)
    src = (
        'package main\nimport ("fmt"; "time")\n'
        'func main() { time.Sleep(200 * time.Millisecond); fmt.Println("built and ran") }\n'
    )
    # The build takes seconds; the run has 1 s of its own.
    done = await run(
        client, auth, await create_task(client, auth, src, "go", timeout_seconds=1), wait=60
    )
    assert done["status"] == "completed", done
    assert done["stdout"] == "built and ran\n"
    assert 200 <= done["execution_time_ms"] < 1000
    assert done["compile_time_ms"] > 0
    assert "compile_output" not in done or done["compile_output"] == ""
    broken = await run(
        client,
        auth,
        await create_task(client, auth, "package main\nfunc main() { nope() }\n", "go"),
        wait=60,
    )
    assert broken["status"] == "failed"
    assert broken["termination_reason"] == "compile_error"
    assert "undefined: nope" in broken["compile_output"]
    assert "return_code" not in broken
    assert "stdout" not in broken or broken["stdout"] == ""


async def test_signals_limits_and_cpu_time_are_reported(
    client: httpx.AsyncClient, pipeline: object
) -> None:
    auth = await login(client)
    busy = "x = 0\nfor i in range(3_000_000):\n    x += i\nprint(x)\n"
    done = await run(client, auth, await create_task(client, auth, busy))
    assert done["status"] == "completed"
    assert done["cpu_time_ms"] > 50
    killed = await run(client, auth, await create_task(client, auth, "kill -KILL $$", "bash"))
    assert (killed["status"], killed["termination_reason"]) == ("failed", "exit")
    assert killed["exit_signal"] == "SIGKILL"
    assert "return_code" not in killed
    seccomp = "import ctypes\nctypes.CDLL(None).syscall(39 | 0x40000000)\n"
    violation = await run(client, auth, await create_task(client, auth, seccomp))
    assert (violation["status"], violation["termination_reason"]) == (
        "failed",
        "security_violation",
    )
    assert violation["exit_signal"] == "SIGSYS"
    bomb = ":(){ :|:& };:\nwait\n"
    forks = await run(
        client, auth, await create_task(client, auth, bomb, "bash", timeout_seconds=5)
    )
    assert forks["termination_reason"] in ("pids_limit", "timeout"), forks
    if forks["termination_reason"] == "pids_limit":
        assert forks["status"] == "failed"


async def test_a_tasks_updated_at_moves_with_its_executions(
    client: httpx.AsyncClient, pipeline: object
) -> None:
    auth = await login(client)
    task_id = await create_task(client, auth, "print(1)")
    before = (await client.get(f"/api/v1/tasks/{task_id}", headers=auth)).json()
    await run(client, auth, task_id)
    after = (await client.get(f"/api/v1/tasks/{task_id}", headers=auth)).json()
    assert after["status"] == "completed"
    assert after["updated_at"] > before["updated_at"]

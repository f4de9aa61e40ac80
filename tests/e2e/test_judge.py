"""Judge features through the whole pipeline: one-shot runs, files and arguments, binary stdin,
test cases with verdicts (compiled once), batches, and the list of every execution."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import httpx
import pytest

from tests.e2e.sse import events
from tests.e2e.test_pipeline import create_task, login, run

pytestmark = pytest.mark.sandbox

RUNS = "/api/v1/runs"


async def one_shot(
    client: httpx.AsyncClient, auth: dict[str, str], body: dict[str, Any], wait: int = 60
) -> dict[str, Any]:
    resp = await client.post(f"{RUNS}?wait={wait}", json=body, headers=auth)
    assert resp.status_code == 201, resp.text
    result: dict[str, Any] = resp.json()
    return result


async def test_a_two_file_program_with_args_runs_without_a_task(
    client: httpx.AsyncClient, pipeline: object
) -> None:
    auth = await login(client)
    body = {
        "script_type": "python",
        "files": [
            {
                "path": "main.py",
                "content": "import sys\nfrom lib.util import twice\n"
                "print(twice(sys.argv[1]), sys.stdin.read())",
            },
            {"path": "lib/util.py", "content": "def twice(s):\n    return s * 2\n"},
            {"path": "lib/__init__.py", "content": ""},
        ],
        "args": ["ab"],
        "stdin_base64": base64.b64encode(b"in").decode(),
    }
    done = await one_shot(client, auth, body)
    assert done["status"] == "completed", str(done)
    assert done["stdout"] == "abab in\n"
    assert "task_id" not in done
    assert done["script_type"] == "python"
    assert done["limits"]["timeout_seconds"] == 300
    # What ran is stored with it.
    got = (await client.get(f"/api/v1/executions/{done['id']}", headers=auth)).json()
    assert [f["path"] for f in got["run"]["files"]] == ["main.py", "lib/util.py", "lib/__init__.py"]
    assert got["run"]["args"] == ["ab"]
    # Files are writable copies in the work dir.
    scratch = await one_shot(
        client,
        auth,
        {
            "script_type": "bash",
            "files": [
                {"path": "run.sh", "content": "echo more >> data.txt; cat data.txt"},
                {"path": "data.txt", "content": "start\n"},
            ],
        },
    )
    assert scratch["stdout"] == "start\nmore\n", scratch


async def test_test_cases_get_verdicts_hidden_ones_reveal_nothing(
    client: httpx.AsyncClient, pipeline: object
) -> None:
    auth = await login(client)
    src = "import sys\nn = int(sys.stdin.read())\nprint(n * n)\n"
    cases: list[dict[str, Any]] = [
        {"name": f"square {n}", "stdin": f"{n}\n", "expected_stdout": f"{n * n}\n"}
        for n in (1, 2, 3)
    ]
    cases.append({"name": "wrong", "stdin": "4\n", "expected_stdout": "17\n"})
    cases.append({"name": "secret", "stdin": "5\n", "expected_stdout": "25\n", "hidden": True})
    cases.append({"name": "crash", "stdin": "x\n", "expected_stdout": "?"})
    done = await one_shot(
        client, auth, {"script_type": "python", "script_content": src, "test_cases": cases}
    )
    assert done["status"] == "failed", done
    assert (done["verdict"], done["passed"], done["total"]) == ("wrong_answer", 4, 6)
    verdicts = [c["verdict"] for c in done["cases"]]
    assert verdicts == ["accepted"] * 3 + ["wrong_answer", "accepted", "runtime_error"]
    assert done["cases"][0]["stdout"] == "1\n"
    secret = done["cases"][4]
    assert secret["hidden"] is True
    assert set(secret) == {
        "index",
        "name",
        "hidden",
        "verdict",
        "execution_time_ms",
        "cpu_time_ms",
        "memory_usage_bytes",
    }
    assert "stdout" not in done  # each case has its own output
    # The live log (replayed) has each case's start and end, and no hidden output.
    replay = [e async for e in events(client, f"/api/v1/executions/{done['id']}/logs", auth)]
    starts = [e.data["name"] for e in replay if e.name == "case_start"]
    assert starts == [c["name"] for c in cases]
    assert not any(e.name == "stdout" and e.data.get("case") == 5 for e in replay)
    ends = [e for e in replay if e.name == "case_end"]
    assert [e.data["verdict"] for e in ends] == verdicts
    assert "return_code" not in ends[4].data
    assert replay[-1].name == "end"
    assert (replay[-1].data["verdict"], replay[-1].data["passed"]) == ("wrong_answer", 4)
    # Stop at the first failure: the rest do not run.
    stopped = await one_shot(
        client,
        auth,
        {
            "script_type": "python",
            "script_content": src,
            "test_cases": cases,
            "stop_on_first_failure": True,
        },
    )
    assert [c["verdict"] for c in stopped["cases"]] == ["accepted"] * 3 + ["wrong_answer"]
    assert (stopped["passed"], stopped["total"]) == (3, 6)


async def test_a_one_shot_runs_cases_come_back_but_nothing_of_a_hidden_one(
    client: httpx.AsyncClient, pipeline: object
) -> None:
    auth = await login(client)
    src = "import sys\nprint(len(sys.stdin.buffer.read()), *sys.argv[1:])\n"
    binary = b"\xff\xfe\x00\x01"
    hidden = {
        "name": "secret",
        "stdin": "hidden-stdin-q7Zr\n",
        "args": ["--hidden-arg-k9Xw"],
        "expected_stdout": "hidden-expected-w3Pv\n",
        "compare": "exact",
        "hidden": True,
    }
    body = {
        "script_type": "python",
        "script_content": src,
        "args": ["run-arg"],
        "test_cases": [
            {"name": "text", "stdin": "abc", "expected_stdout": "3 run-arg\n"},
            {
                "name": "bytes",
                "stdin_base64": base64.b64encode(binary).decode(),
                "args": ["own", "two words"],
                "expected_stdout": "4 own two words",
                "compare": "ignore_whitespace",
            },
            hidden,
        ],
        "stop_on_first_failure": False,
    }
    done = await one_shot(client, auth, body)
    assert [c["verdict"] for c in done["cases"]] == ["accepted", "accepted", "wrong_answer"]
    got = await client.get(f"/api/v1/executions/{done['id']}", headers=auth)
    assert got.status_code == 200
    ran = got.json()["run"]
    assert ran["stop_on_first_failure"] is False
    assert ran["test_cases"] == [
        {
            "name": "text",
            "hidden": False,
            "stdin": "abc",
            "expected_stdout": "3 run-arg\n",
            "compare": "trim_trailing_whitespace",
        },
        {
            "name": "bytes",
            "hidden": False,
            "stdin_base64": base64.b64encode(binary).decode(),
            "args": ["own", "two words"],
            "expected_stdout": "4 own two words",
            "compare": "ignore_whitespace",
        },
        {"name": "secret", "hidden": True},
    ]
    # Nothing of the hidden case's input, arguments or expected output, anywhere: neither in
    # the resource nor in what the start answered.
    for text in (got.text, json.dumps(done)):
        for secret in ("hidden-stdin-q7Zr", "--hidden-arg-k9Xw", "hidden-expected-w3Pv"):
            assert secret not in text
    # The binary stdin round-trips: the bytes given are the bytes the case ran with.
    again = await one_shot(
        client,
        auth,
        {"script_type": "python", "script_content": src, "test_cases": [ran["test_cases"][1]]},
    )
    assert again["verdict"] == "accepted", again
    # List items stay summaries: no run, no cases, no inputs.
    listed = await client.get("/api/v1/executions", params={"ids": done["id"]}, headers=auth)
    (item,) = listed.json()["executions"]
    assert not {"run", "cases", "test_cases", "stdout"} & item.keys(), item
    assert "hidden-stdin-q7Zr" not in listed.text


async def test_a_compiled_program_is_built_once_for_every_case(
    client: httpx.AsyncClient, pipeline: object
) -> None:
    auth = await login(client)
    src = (
        'package main\nimport "fmt"\nfunc main() { var n int; fmt.Scan(&n); fmt.Println(n + 1) }\n'
    )
    cases = [{"name": str(n), "stdin": str(n), "expected_stdout": str(n + 1)} for n in range(4)]
    cases.append({"name": "bad", "stdin": "9", "expected_stdout": "11"})
    task_id = await create_task(client, auth, src, "go", test_cases=cases, timeout_seconds=5)
    done = await run(client, auth, task_id, wait=60)
    assert [c["verdict"] for c in done["cases"]] == ["accepted"] * 4 + ["wrong_answer"]
    assert done["compile_time_ms"] > 0
    assert "run" not in done  # a task's execution: its cases are on the task
    # The owner sees expected outputs on the task they wrote.
    task = (await client.get(f"/api/v1/tasks/{task_id}", headers=auth)).json()
    assert task["test_cases"][4]["expected_stdout"] == "11"
    broken = await run(
        client,
        auth,
        await create_task(
            client, auth, "package main\nfunc main() { nope() }\n", "go", test_cases=cases
        ),
        wait=60,
    )
    assert (broken["verdict"], broken["passed"], broken["total"]) == ("compile_error", 0, 5)
    assert "undefined: nope" in broken["compile_output"]


async def test_a_batch_of_runs_and_the_list_of_every_execution(
    client: httpx.AsyncClient, pipeline: object
) -> None:
    auth = await login(client)
    runs = [{"script_type": "python", "script_content": f"print({i})"} for i in range(20)]
    resp = await client.post(f"{RUNS}/batch", json={"runs": runs}, headers=auth)
    assert resp.status_code == 201, resp.text
    ids = [e["id"] for e in resp.json()["executions"]]
    assert len(ids) == 20
    for _ in range(120):
        listed = await client.get(
            "/api/v1/executions", params={"ids": ",".join(ids), "limit": 100}, headers=auth
        )
        page = listed.json()["executions"]
        if all(e["status"] == "completed" for e in page):
            break
        await asyncio.sleep(0.5)
    assert len(page) == 20
    assert all(e["status"] == "completed" and "stdout" not in e for e in page), page
    outputs = {
        (await client.get(f"/api/v1/executions/{i}", headers=auth)).json()["stdout"] for i in ids
    }
    assert outputs == {f"{i}\n" for i in range(20)}
    # One bad run in a batch: 400 naming its index, nothing starts.
    bad = [*runs[:3], {"script_type": "python", "script_content": ""}]
    refused = await client.post(f"{RUNS}/batch", json={"runs": bad}, headers=auth)
    assert refused.status_code == 400
    assert [e["field"] for e in refused.json()["validation_errors"]] == ["runs.3.script_content"]
    total = (await client.get("/api/v1/executions", headers=auth)).json()["total"]
    assert total == 20
    # Someone else sees none of them, and their ids are left out silently.
    other = await login(client, "other@example.com")
    theirs = await client.get("/api/v1/executions", params={"ids": ids[0]}, headers=other)
    assert theirs.json()["executions"] == []


@pytest.mark.parametrize(
    ("files", "field"),
    [
        ([{"path": "../x", "content": ""}], "files.0.path"),
        ([{"path": "/etc/x", "content": ""}], "files.0.path"),
        ([{"path": "a/../../b", "content": ""}], "files.0.path"),
        ([{"path": "-o", "content": ""}], "files.0.path"),
        ([{"path": "a", "content": ""}, {"path": "a", "content": ""}], "files.1.path"),
        ([{"path": "a", "content": "%%%", "encoding": "base64"}], "files.0"),
        ([{"path": f"f{i}", "content": ""} for i in range(101)], "files"),
    ],
)
async def test_bad_files_are_refused_and_nothing_starts(
    client: httpx.AsyncClient, pipeline: object, files: list[dict[str, str]], field: str
) -> None:
    auth = await login(client)
    resp = await client.post(RUNS, json={"script_type": "python", "files": files}, headers=auth)
    assert resp.status_code == 400, resp.text
    assert field in [e["field"] for e in resp.json()["validation_errors"]]
    assert (await client.get("/api/v1/executions", headers=auth)).json()["total"] == 0

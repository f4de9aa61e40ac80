"""The tasks service over gRPC: field violations travel as structured trailing metadata."""

from __future__ import annotations

import uuid
from typing import Any

import grpc
import pytest

from voidrunner.proto.tasks.v1 import tasks_pb2, tasks_pb2_grpc

CALLER = tasks_pb2.Caller(user_id=str(uuid.uuid4()), role="user")


async def test_create_get_and_violations(stub: tasks_pb2_grpc.TasksServiceAsyncStub) -> None:
    task = await stub.CreateTask(
        tasks_pb2.CreateTaskRequest(
            caller=CALLER,
            fields=tasks_pb2.TaskFields(name="t", script_content="print(1)", script_type="python"),
        )
    )
    assert task.status == "pending"
    assert task.memory_limit_mb == 256
    got = await stub.GetTask(tasks_pb2.GetTaskRequest(caller=CALLER, id=task.id))
    assert got == task
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.CreateTask(
            tasks_pb2.CreateTaskRequest(
                caller=CALLER,
                fields=tasks_pb2.TaskFields(
                    name="t", script_content="x", script_type="cobol", memory_limit_mb=1 << 20
                ),
            )
        )
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    # grpc.aio hands out (key, value) tuples, whatever the stubs say.
    pairs: list[tuple[str, Any]] = list(info.value.trailing_metadata() or ())  # type: ignore[arg-type]
    raw = dict(pairs)["voidrunner-field-violations-bin"]
    assert isinstance(raw, bytes)
    details = tasks_pb2.FieldViolations.FromString(raw)
    assert {v.field for v in details.violations} == {"script_type", "memory_limit_mb"}

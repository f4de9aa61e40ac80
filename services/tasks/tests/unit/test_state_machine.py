"""The execution state machine: the whole transition table, final states, task status."""

from __future__ import annotations

import itertools

import pytest

from voidrunner.tasks.errors import InvalidTransition
from voidrunner.tasks.state import (
    ACTIVE,
    FINAL,
    Status,
    can_transition,
    check_cancel,
    check_transition,
    task_status_after,
)

ALLOWED = {
    (Status.PENDING, Status.RUNNING),
    (Status.PENDING, Status.CANCELLED),
    (Status.PENDING, Status.FAILED),
    (Status.PENDING, Status.TIMEOUT),
    (Status.RUNNING, Status.RUNNING),
    (Status.RUNNING, Status.COMPLETED),
    (Status.RUNNING, Status.FAILED),
    (Status.RUNNING, Status.TIMEOUT),
    (Status.RUNNING, Status.CANCELLED),
}


@pytest.mark.parametrize(("current", "target"), list(itertools.product(Status, Status)))
def test_transition_table(current: Status, target: Status) -> None:
    expected = (current, target) in ALLOWED
    assert can_transition(current, target) is expected
    if expected:
        check_transition(current, target)
    else:
        with pytest.raises(InvalidTransition):
            check_transition(current, target)


@pytest.mark.parametrize("final", sorted(FINAL))
def test_a_final_state_never_changes(final: Status) -> None:
    for target in Status:
        with pytest.raises(InvalidTransition, match=f"with status: {final.value}"):
            check_transition(final, target)
    with pytest.raises(InvalidTransition) as info:
        check_cancel(final)
    assert info.value.message == f"cannot cancel execution with status: {final.value}"


def test_pending_cannot_complete_without_running() -> None:
    assert not can_transition(Status.PENDING, Status.COMPLETED)


@pytest.mark.parametrize("active", sorted(ACTIVE))
def test_active_executions_can_be_cancelled(active: Status) -> None:
    check_cancel(active)


def test_task_status_follows_execution() -> None:
    assert task_status_after(Status.PENDING) is Status.RUNNING
    assert task_status_after(Status.RUNNING) is Status.RUNNING
    for final in FINAL:
        assert task_status_after(final) is final

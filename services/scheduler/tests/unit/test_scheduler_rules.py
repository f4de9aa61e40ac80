"""The scheduler's rules with small hand-written fakes: InflightTracker's per-user slots and
Dispatcher's admission, lanes, cancellation and release."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from nats.js.errors import APIError, KeyNotFoundError, KeyWrongLastSequenceError

from voidrunner.contracts import topology as t
from voidrunner.proto.jobs.v1 import jobs_pb2
from voidrunner.scheduler.dispatcher import Dispatcher
from voidrunner.scheduler.inflight import CAS_ATTEMPTS, InflightTracker

# Fakes


@dataclass(frozen=True)
class Stored:
    value: bytes | None
    revision: int | None


class Bucket:
    """A KV bucket in memory with compare-and-set, as nats-py reports conflicts.

    `before_write` runs before every write: a test plays another replica there.
    """

    def __init__(self) -> None:
        self.keys: dict[str, Stored] = {}
        self.writes = 0
        self.before_write: Callable[[str], None] = lambda key: None
        self._revision = 0

    def put(self, key: str, value: bytes | None) -> None:
        self._revision += 1
        self.keys[key] = Stored(value, self._revision)

    def slots(self, key: str) -> dict[str, float]:
        stored = self.keys[key].value
        assert stored is not None
        found: dict[str, float] = json.loads(stored)
        return found

    async def get(self, key: str) -> Stored:
        if key not in self.keys:
            raise KeyNotFoundError
        return self.keys[key]

    async def create(self, key: str, value: bytes) -> int:
        self.before_write(key)
        if key in self.keys and self.keys[key].value is not None:
            raise KeyWrongLastSequenceError
        self.writes += 1
        self.put(key, value)
        return self._revision

    async def update(self, key: str, value: bytes, last: int | None = None) -> int:
        self.before_write(key)
        if key not in self.keys or self.keys[key].revision != last:
            raise KeyWrongLastSequenceError
        self.writes += 1
        self.put(key, value)
        return self._revision

    async def delete(self, key: str) -> bool:
        self.put(key, None)
        return True


@dataclass
class Published:
    subject: str
    job: jobs_pb2.Job
    headers: dict[str, str]


@dataclass
class Lanes:
    """Collects what the dispatcher publishes."""

    published: list[Published] = field(default_factory=list)

    async def publish(
        self, subject: str, payload: bytes = b"", *, headers: dict[str, str] | None = None
    ) -> object:
        self.published.append(Published(subject, jobs_pb2.Job.FromString(payload), headers or {}))
        return None


@dataclass
class Message:
    """A delivery that records how it was settled."""

    data: bytes
    settled: list[str] = field(default_factory=list)
    delay: float | None = None
    headers: dict[str, str] | None = None

    async def ack(self) -> None:
        self.settled.append("ack")

    async def nak(self, delay: float | None = None) -> None:
        self.settled.append("nak")
        self.delay = delay

    async def term(self) -> None:
        self.settled.append("term")


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def job(user: str = "u1", priority: int = 5, timeout: int = 10) -> jobs_pb2.Job:
    return jobs_pb2.Job(
        execution_id=str(uuid.uuid4()),
        user_id=user,
        runtime="python",
        priority=priority,
        limits=jobs_pb2.Limits(timeout_seconds=timeout),
    )


def result(j: jobs_pb2.Job) -> Message:
    return Message(
        jobs_pb2.ExecutionResult(execution_id=j.execution_id, user_id=j.user_id).SerializeToString()
    )


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def slots() -> Bucket:
    return Bucket()


@pytest.fixture
def tracker(slots: Bucket, clock: Clock) -> InflightTracker:
    return InflightTracker(slots, limit=2, clock=clock)


# InflightTracker


async def test_a_user_gets_up_to_the_limit_and_others_are_not_held_up(
    tracker: InflightTracker, clock: Clock
) -> None:
    until = clock.now + 60
    assert await tracker.try_admit("alice", "e1", until)
    assert await tracker.try_admit("alice", "e2", until)
    assert not await tracker.try_admit("alice", "e3", until)
    assert await tracker.try_admit("bob", "e4", until)
    assert (await tracker.count("alice"), await tracker.count("bob")) == (2, 1)


async def test_a_redelivered_request_keeps_its_slot_without_taking_another(
    tracker: InflightTracker, clock: Clock
) -> None:
    until = clock.now + 60
    assert await tracker.try_admit("alice", "e1", until)
    assert await tracker.try_admit("alice", "e2", until)
    assert await tracker.try_admit("alice", "e1", until)  # at the limit, but already holds one
    assert await tracker.count("alice") == 2


async def test_expired_slots_do_not_count_and_are_pruned(
    tracker: InflightTracker, slots: Bucket, clock: Clock
) -> None:
    assert await tracker.try_admit("alice", "lost1", clock.now + 5)
    assert await tracker.try_admit("alice", "lost2", clock.now + 5)
    clock.now += 10  # their results never came
    assert await tracker.count("alice") == 0
    assert await tracker.try_admit("alice", "e3", clock.now + 60)
    assert set(slots.slots("u.alice")) == {"e3"}


async def test_a_refusal_still_prunes_what_expired(
    tracker: InflightTracker, slots: Bucket, clock: Clock
) -> None:
    await tracker.try_admit("alice", "old", clock.now + 5)
    await tracker.try_admit("alice", "e2", clock.now + 60)
    await tracker.try_admit("alice", "e3", clock.now + 60)  # refused: old still live
    clock.now += 10
    await tracker.try_admit("alice", "e4", clock.now + 60)  # admitted in old's place
    assert not await tracker.try_admit("alice", "e5", clock.now + 60)
    assert set(slots.slots("u.alice")) == {"e2", "e4"}


async def test_release_frees_the_slot_and_ignores_unknown_ids(
    tracker: InflightTracker, clock: Clock
) -> None:
    await tracker.try_admit("alice", "e1", clock.now + 60)
    await tracker.try_admit("alice", "e2", clock.now + 60)
    await tracker.release("e1", "alice")
    await tracker.release("never-admitted", "alice")
    await tracker.release("e9", "nobody")
    assert await tracker.count("alice") == 1
    assert await tracker.try_admit("alice", "e3", clock.now + 60)


async def test_a_result_without_a_user_is_released_through_the_legacy_lookup(
    tracker: InflightTracker, slots: Bucket, clock: Clock
) -> None:
    await tracker.try_admit("alice", "e1", clock.now + 60)
    slots.put("e.e1", b"alice")  # written by an earlier scheduler version
    await tracker.release("e1", "")
    assert await tracker.count("alice") == 0
    assert slots.keys["e.e1"].value is None  # the lookup key is removed too


async def test_a_write_lost_to_another_replica_is_retried_and_both_count(
    tracker: InflightTracker, slots: Bucket, clock: Clock
) -> None:
    other = {"raced": False}

    def another_replica(key: str) -> None:
        if not other["raced"]:
            other["raced"] = True
            slots.put(key, json.dumps({"theirs": clock.now + 60}).encode())

    slots.before_write = another_replica
    assert await tracker.try_admit("alice", "mine", clock.now + 60)
    assert set(slots.slots("u.alice")) == {"theirs", "mine"}  # nobody's slot was overwritten


async def test_a_create_conflict_reported_as_an_api_error_is_a_conflict_too(
    tracker: InflightTracker, slots: Bucket, clock: Clock
) -> None:
    raised = {"once": False}

    def create_conflict(key: str) -> None:
        if not raised["once"]:
            raised["once"] = True
            slots.put(key, json.dumps({"theirs": clock.now + 60}).encode())
            error = APIError()
            error.err_code = 10071  # "wrong last sequence", as nats-py reports a failed create
            raise error

    slots.before_write = create_conflict
    assert await tracker.try_admit("alice", "mine", clock.now + 60)
    assert set(slots.slots("u.alice")) == {"theirs", "mine"}


async def test_endless_contention_gives_up_loudly(
    tracker: InflightTracker, slots: Bucket, clock: Clock
) -> None:
    slots.before_write = lambda key: slots.put(key, b"{}")  # someone always writes first
    with pytest.raises(RuntimeError, match="contention"):
        await tracker.try_admit("alice", "e1", clock.now + 60)
    assert slots.writes == 0
    assert CAS_ATTEMPTS > 1


async def test_other_bucket_errors_are_not_mistaken_for_conflicts(
    tracker: InflightTracker, slots: Bucket, clock: Clock
) -> None:
    def unavailable(key: str) -> None:
        raise APIError()  # e.g. JetStream unavailable: not a lost race

    slots.before_write = unavailable
    with pytest.raises(APIError):
        await tracker.try_admit("alice", "e1", clock.now + 60)


# Dispatcher


@pytest.fixture
def lanes() -> Lanes:
    return Lanes()


@pytest.fixture
def cancelled() -> Bucket:
    return Bucket()


@pytest.fixture
def dispatcher(lanes: Lanes, tracker: InflightTracker, cancelled: Bucket) -> Dispatcher:
    return Dispatcher(lanes, tracker, cancelled, retry_delay=0.7, slot_ttl_extra=100.0)


@pytest.mark.parametrize(
    ("priority", "lane"), [(10, "urgent"), (8, "urgent"), (5, "normal"), (0, "low")]
)
async def test_an_admitted_request_goes_to_its_lane_once(
    dispatcher: Dispatcher, lanes: Lanes, priority: int, lane: str
) -> None:
    j = job(priority=priority)
    msg = Message(j.SerializeToString())
    await dispatcher.on_request(msg)
    [sent] = lanes.published
    assert sent.subject == t.job_subject(lane)
    assert sent.job.execution_id == j.execution_id
    assert sent.job.attempt == 1  # the first attempt is 1, never 0
    assert sent.headers == {t.MSG_ID_HEADER: f"{j.execution_id}:1"}
    assert msg.settled == ["ack"]


async def test_a_requeued_request_keeps_its_attempt(dispatcher: Dispatcher, lanes: Lanes) -> None:
    j = job()
    j.attempt = 2
    await dispatcher.on_request(Message(j.SerializeToString()))
    assert lanes.published[0].headers[t.MSG_ID_HEADER] == f"{j.execution_id}:2"


async def test_the_slot_lasts_the_timeout_plus_the_extra(
    dispatcher: Dispatcher, slots: Bucket
) -> None:
    j = job(user="alice", timeout=30)
    before = time.time()
    await dispatcher.on_request(Message(j.SerializeToString()))
    expires = slots.slots("u.alice")[j.execution_id]
    assert before + 130 <= expires <= time.time() + 130


async def test_a_user_at_the_limit_is_asked_again_later(
    dispatcher: Dispatcher, lanes: Lanes
) -> None:
    for _ in range(2):
        await dispatcher.on_request(Message(job(user="alice").SerializeToString()))
    held = Message(job(user="alice").SerializeToString())
    await dispatcher.on_request(held)
    assert (held.settled, held.delay) == (["nak"], 0.7)
    assert len(lanes.published) == 2


async def test_a_cancelled_request_is_dropped_and_gives_its_slot_back(
    dispatcher: Dispatcher, lanes: Lanes, cancelled: Bucket, tracker: InflightTracker
) -> None:
    j = job(user="alice")
    cancelled.put(j.execution_id, b"1")
    msg = Message(j.SerializeToString())
    await dispatcher.on_request(msg)
    assert msg.settled == ["ack"]
    assert lanes.published == []
    assert await tracker.count("alice") == 0


async def test_malformed_requests_are_terminated(dispatcher: Dispatcher, lanes: Lanes) -> None:
    garbage = Message(b"\xff\x00not a protobuf")
    no_ids = Message(jobs_pb2.Job(runtime="python").SerializeToString())
    no_user = Message(jobs_pb2.Job(execution_id=str(uuid.uuid4())).SerializeToString())
    for msg in (garbage, no_ids, no_user):
        await dispatcher.on_request(msg)
        assert msg.settled == ["term"]
    assert lanes.published == []


async def test_a_result_releases_its_slot(dispatcher: Dispatcher, tracker: InflightTracker) -> None:
    first, second, third = (job(user="alice") for _ in range(3))
    for j in (first, second):
        await dispatcher.on_request(Message(j.SerializeToString()))
    done = result(first)
    await dispatcher.on_result(done)
    assert done.settled == ["ack"]
    retried = Message(third.SerializeToString())
    await dispatcher.on_request(retried)
    assert retried.settled == ["ack"]
    assert await tracker.count("alice") == 2


async def test_a_malformed_result_is_terminated(dispatcher: Dispatcher) -> None:
    msg = Message(b"\xff\x00")
    await dispatcher.on_result(msg)
    assert msg.settled == ["term"]

"""The executor's job loop: priority lanes, N slots, heartbeats, cancellation, graceful drain.

Jobs wait in one durable pull consumer per lane, shared by every executor. A free slot takes
the next job from the most urgent non-empty lane, except that every `STARVATION_EVERY`-th pick
looks at the lanes in reverse, so low-priority work always makes progress. An idle executor
sleeps on a doorbell (a core-NATS subscription to the job subjects) instead of polling. A lane
found empty is not asked again until its doorbell rings or IDLE_POLL_SECONDS pass (jobs handed
back by a nak or an expired ack wait do not ring), which spares a JetStream request per job.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from dataclasses import dataclass, field

import structlog
from google.protobuf.message import DecodeError
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js.client import JetStreamContext
from nats.js.kv import KeyValue

from voidrunner.common.logs import get_logger
from voidrunner.common.tracing import TRACING_OFF, SpanKind, Tracing
from voidrunner.contracts import topology as t
from voidrunner.contracts.execution import attempt_of
from voidrunner.contracts.streams import lane_consumer
from voidrunner.executor.job_runner import Finished, JobRunner, RetryLater
from voidrunner.executor.metrics import JOB_SECONDS, JOBS, REDELIVERED, SLOTS
from voidrunner.proto.jobs.v1 import jobs_pb2

_log = get_logger("voidrunner.executor.consumer")
STARVATION_EVERY = 4
IDLE_POLL_SECONDS = 1.0
# After a doorbell, a lane is asked with a short lingering pull instead of no_wait: the core
# message can arrive before the stream has stored the job, and a no_wait pull would then find
# nothing and sleep until the next poll (a 1 s stall seen in the benchmarks).
RUNG_LINGER_SECONDS = 0.05
RESULT_PUBLISH_ATTEMPTS = 20


@dataclass(frozen=True, slots=True)
class ConsumerConfig:
    slots: int
    ack_wait: float
    heartbeat: float
    max_deliver: int
    shutdown_grace: float


@dataclass
class _Running:
    cancel: asyncio.Event = field(default_factory=asyncio.Event)
    handed_back: bool = False


class JobConsumer:
    """Takes jobs off the lanes and runs each with a JobRunner."""

    def __init__(
        self,
        nc: NATS,
        js: JetStreamContext,
        runner: JobRunner,
        cancelled: KeyValue,
        config: ConsumerConfig,
        tracing: Tracing = TRACING_OFF,
    ) -> None:
        self._nc = nc
        self._tracing = tracing
        self._js = js
        self._runner = runner
        self._cancelled = cancelled
        self._config = config
        self._slots = asyncio.Semaphore(config.slots)
        self._doorbell = asyncio.Event()
        self._rung: set[str] = set()
        # lane → when a fetch last found it empty (forgotten when its doorbell rings).
        self._empty_at: dict[str, float] = {}
        self._stopping = asyncio.Event()
        self._running: dict[str, _Running] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._subs: dict[str, JetStreamContext.PullSubscription] = {}
        self._picks = itertools.count()
        SLOTS.labels("busy").set_function(lambda: len(self._running))
        SLOTS.labels("free").set_function(lambda: config.slots - len(self._running))

    @property
    def running(self) -> int:
        """Jobs in flight in this executor."""
        return len(self._running)

    @property
    def draining(self) -> bool:
        """Stopping: finishing or handing back what runs, taking nothing new."""
        return self._stopping.is_set()

    async def start(self) -> None:
        """Bind to the lane consumers, subscribe to cancels and the doorbell."""
        for lane in t.LANES:
            config = lane_consumer(
                lane, ack_wait=self._config.ack_wait, max_deliver=self._config.max_deliver
            )
            await self._js.add_consumer(t.JOBS_STREAM, config)
            self._subs[lane] = await self._js.pull_subscribe_bind(
                durable=t.job_consumer(lane), stream=t.JOBS_STREAM
            )
        for lane in t.LANES:  # one per lane: its NATS user may hear only the lanes it serves
            await self._nc.subscribe(t.job_subject(lane), cb=self._ring)
        await self._nc.subscribe(t.CANCEL_SUBJECT, cb=self._on_cancel)

    async def run(self, stop: asyncio.Event) -> None:
        """Take jobs until `stop` is set, then drain: running jobs get the grace to finish, the
        rest are handed back. The executor's supervisor runs this loop and, after a failure,
        runs it again on the same consumer (jobs already running carry on)."""
        self._stopping = stop
        await self._loop()
        await self._drain()

    async def _ring(self, msg: Msg) -> None:
        self._rung.add(msg.subject.rpartition(".")[2])
        self._doorbell.set()

    async def _on_cancel(self, msg: Msg) -> None:
        try:
            request = jobs_pb2.CancelRequest.FromString(msg.data)
        except DecodeError:
            _log.warning("malformed cancel request ignored")
            return
        running = self._running.get(request.execution_id)
        if running is not None:
            _log.info("cancelling", execution_id=request.execution_id)
            running.cancel.set()

    def _lane_order(self) -> tuple[str, ...]:
        if next(self._picks) % STARVATION_EVERY == STARVATION_EVERY - 1:
            return tuple(reversed(t.LANES))
        return t.LANES

    async def _fetch_now(self, lane: str, linger: float = 0.0) -> Msg | None:
        """One message from `lane` if one is waiting (or arrives within `linger` seconds)."""
        sub = self._subs[lane]
        ask: dict[str, object] = {"batch": 1}
        if linger > 0:
            ask["expires"] = int(linger * 1e9)
        else:
            ask["no_wait"] = True
        request = json.dumps(ask).encode()
        # nats-py's fetch() lingers until its timeout on an empty lane; a no_wait request is
        # answered at once (message or 404), which keeps idle-to-busy latency near zero.
        inner = sub._sub
        while not inner._pending_queue.empty():
            stale = inner._pending_queue.get_nowait()
            if not JetStreamContext.is_status_msg(stale):
                return stale
        await self._nc.publish(sub._nms, request, reply=sub._deliver)
        while True:
            msg = await inner.next_msg(timeout=5)
            status = JetStreamContext.is_status_msg(msg)
            if status is None:
                return msg
            if status == "100":  # idle heartbeat
                continue
            return None  # 404 no messages, 408 timeout, 409 etc.

    async def _next_job(self) -> tuple[Msg, str] | None:
        while not self._stopping.is_set():
            self._doorbell.clear()
            rung, self._rung = self._rung, set()
            loop = asyncio.get_running_loop()
            for lane in self._lane_order():
                empty_at = self._empty_at.get(lane)
                if (
                    lane not in rung
                    and empty_at is not None
                    and loop.time() - empty_at < IDLE_POLL_SECONDS
                ):
                    continue
                asked = loop.time()
                try:
                    msg = await self._fetch_now(lane, RUNG_LINGER_SECONDS if lane in rung else 0)
                except Exception:  # NATS hiccup: back off and retry
                    _log.warning("fetch failed", lane=lane, exc_info=True)
                    await asyncio.sleep(0.5)
                    continue
                if msg is not None:
                    self._empty_at.pop(lane, None)
                    return msg, lane
                if lane not in self._rung:  # a doorbell during the fetch: not known empty
                    self._empty_at[lane] = asked
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wait_for_work(), timeout=IDLE_POLL_SECONDS)
        return None

    async def _wait_for_work(self) -> None:
        stop = asyncio.create_task(self._stopping.wait())
        bell = asyncio.create_task(self._doorbell.wait())
        try:
            await asyncio.wait({stop, bell}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
            bell.cancel()

    async def _loop(self) -> None:
        while not self._stopping.is_set():
            if not await self._free_slot():
                break
            picked = await self._next_job()
            if picked is None:
                self._slots.release()
                break
            msg, lane = picked
            task = asyncio.create_task(self._handle(msg, lane))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _free_slot(self) -> bool:
        """Wait for a free slot (True), or for stop (False): with every slot busy, a stop must
        not wait for a job to end before the drain starts."""
        acquire = asyncio.ensure_future(self._slots.acquire())
        stop = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait({acquire, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
        if acquire.done() and not acquire.cancelled():
            if not self._stopping.is_set():
                return True
            self._slots.release()
            return False
        acquire.cancel()
        return False

    async def _handle(self, msg: Msg, lane: str) -> None:
        try:
            await self._process(msg, lane)
        except Exception:  # one bad job must never take the loop down
            _log.exception("job handling failed")
            with contextlib.suppress(Exception):
                await msg.nak(delay=5)
        finally:
            self._slots.release()

    async def _process(self, msg: Msg, lane: str) -> None:
        try:
            job = jobs_pb2.Job.FromString(msg.data)
        except DecodeError:
            _log.error("malformed job terminated", lane=lane, size=len(msg.data))
            await msg.term()
            return
        if not job.execution_id:
            _log.error("job without execution id terminated", lane=lane)
            await msg.term()
            return
        attempt = attempt_of(job.attempt, msg.metadata.num_delivered or 1)
        if (msg.metadata.num_delivered or 1) > 1:
            REDELIVERED.labels(lane).inc()
        # Every line logged while this job runs names it; one line at the end sums it up.
        with (
            structlog.contextvars.bound_contextvars(
                execution_id=job.execution_id, attempt=attempt, lane=lane
            ),
            self._tracing.span(
                "execute",
                headers=msg.headers,
                kind=SpanKind.CONSUMER,
                attributes={
                    "voidrunner.execution_id": job.execution_id,
                    "voidrunner.runtime": job.runtime,
                    "voidrunner.attempt": attempt,
                    "voidrunner.lane": lane,
                },
            ) as span,
        ):
            outcome = await self._run_job(msg, job, attempt)
            if span is not None:
                span.set_attribute("voidrunner.outcome", outcome.partition(":")[0])
            _log.info("job", outcome=outcome, runtime=job.runtime)

    async def _run_job(self, msg: Msg, job: jobs_pb2.Job, attempt: int) -> str:
        """Run one job and settle its message; returns what happened, for the job's log line."""
        if await self._was_cancelled(job.execution_id):
            await msg.ack()
            JOBS.labels(job.runtime, "cancelled").inc()
            return "skipped: cancelled before it ran"
        running = _Running()
        self._running[job.execution_id] = running
        heartbeat = asyncio.create_task(self._heartbeat(msg))
        started = asyncio.get_running_loop().time()
        try:
            finished = await self._runner.run(
                job,
                attempt,
                running.cancel,
                last_attempt=(msg.metadata.num_delivered or 1) >= self._config.max_deliver,
            )
        except RetryLater as exc:
            _log.warning("retrying job later", error=str(exc))
            await msg.nak(delay=2)
            JOBS.labels(job.runtime, "retried").inc()
            return "handed back: sandbox failure, retried later"
        finally:
            heartbeat.cancel()
            self._running.pop(job.execution_id, None)
        if running.handed_back:
            # Shutting down: another executor runs it again from the start.
            await msg.nak()
            JOBS.labels(job.runtime, "handed_back").inc()
            return "handed back: shutting down"
        result = finished.result
        if not await self._publish(finished):
            await msg.nak(delay=5)
            JOBS.labels(job.runtime, "retried").inc()
            return "handed back: result not published"
        await msg.ack_sync()
        seconds = asyncio.get_running_loop().time() - started
        JOBS.labels(job.runtime, "ran").inc()
        JOB_SECONDS.labels(job.runtime).observe(seconds)
        code = result.return_code if result.HasField("return_code") else result.exit_signal
        return (
            f"{result.termination_reason} ({code or '-'}), {result.execution_time_ms} ms run, "
            f"{seconds * 1000:.0f} ms in all"
        )

    async def _was_cancelled(self, execution_id: str) -> bool:
        try:
            await self._cancelled.get(execution_id)
        except Exception:  # KeyNotFoundError, or a lookup failure: run it
            return False
        return True

    async def _heartbeat(self, msg: Msg) -> None:
        while True:
            await asyncio.sleep(self._config.heartbeat)
            with contextlib.suppress(Exception):
                await msg.in_progress()

    async def _publish(self, finished: Finished) -> bool:
        for attempt in range(RESULT_PUBLISH_ATTEMPTS):
            try:
                await self._runner.publish_result(finished)
                return True
            except Exception:  # NATS briefly away: retry before giving the job back
                _log.warning("result publish failed", attempt=attempt, exc_info=True)
                await asyncio.sleep(0.5)
        return False

    async def _drain(self) -> None:
        """Let running jobs finish within the grace, hand back the rest."""
        if self._tasks:
            _done, pending = await asyncio.wait(
                set(self._tasks), timeout=self._config.shutdown_grace
            )
            if pending:
                _log.warning("handing back unfinished jobs", count=len(pending))
                for running in self._running.values():
                    running.handed_back = True
                    running.cancel.set()
                await asyncio.wait(pending, timeout=10)

"""The scheduler's metrics: what it does to jobs, and the job lanes as JetStream sees them."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from nats.js import JetStreamContext
from nats.js.errors import NotFoundError
from prometheus_client import Counter, Gauge

from voidrunner.common.logs import get_logger
from voidrunner.contracts import topology as t

_log = get_logger("voidrunner.scheduler.metrics")
LANE_POLL_SECONDS = 5.0

DEAD_LETTERS = Counter(
    "voidrunner_dead_letters",
    "Jobs given up after their last delivery attempt (their execution ends sandbox_error).",
)
REAPER_ACTIONS = Counter(
    "voidrunner_reaper_actions",
    "Overdue executions the reaper handled, by action (requeued, ended).",
    ["action"],
)
LANE_PENDING = Gauge(
    "voidrunner_lane_pending_jobs",
    "Jobs of a lane no executor has taken yet (its consumer's lag).",
    ["lane"],
)
LANE_IN_FLIGHT = Gauge(
    "voidrunner_lane_in_flight_jobs",
    "Jobs of a lane delivered to an executor and not yet settled.",
    ["lane"],
)
LANE_REDELIVERED = Gauge(
    "voidrunner_lane_redelivered_jobs",
    "Jobs of a lane in flight again after an earlier delivery went unsettled.",
    ["lane"],
)


async def poll_lanes(js: JetStreamContext, stop: asyncio.Event, ready: Callable[[], None]) -> None:
    """Refresh the lane gauges from the lanes' consumers until `stop`.

    A lane whose consumer no executor has created yet reads 0. Other failures raise (the
    supervisor restarts the loop).
    """
    ready()
    while not stop.is_set():
        for lane in t.LANES:
            try:
                info = await js.consumer_info(t.JOBS_STREAM, t.job_consumer(lane))
            except NotFoundError:
                pending = in_flight = redelivered = 0
            else:
                pending = info.num_pending or 0
                in_flight = info.num_ack_pending or 0
                redelivered = info.num_redelivered or 0
            LANE_PENDING.labels(lane).set(pending)
            LANE_IN_FLIGHT.labels(lane).set(in_flight)
            LANE_REDELIVERED.labels(lane).set(redelivered)
        try:
            await asyncio.wait_for(stop.wait(), LANE_POLL_SECONDS)
        except TimeoutError:
            continue

"""The scheduler's metrics: what it does to jobs, and the job lanes as JetStream sees them."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from nats.js import JetStreamContext
from prometheus_client import Counter, Gauge

from voidrunner.common.logs import get_logger
from voidrunner.contracts.streams import lane_depths

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
        for depth in await lane_depths(js):
            LANE_PENDING.labels(depth.lane).set(depth.pending)
            LANE_IN_FLIGHT.labels(depth.lane).set(depth.in_flight)
            LANE_REDELIVERED.labels(depth.lane).set(depth.redelivered)
        try:
            await asyncio.wait_for(stop.wait(), LANE_POLL_SECONDS)
        except TimeoutError:
            continue

"""When to try a failed webhook message again, and when to give up on an endpoint.

The delays follow the Standard Webhooks example schedule, cut at 10 hours a step: a message is
tried 8 times over about 28 hours. Each delay is spread by up to ±`jitter` so that endpoints
that failed together (an outage) are not all retried in the same second. A receiver's
Retry-After may push an attempt later, never earlier, and only up to a cap.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass

_SECOND = dt.timedelta(seconds=1)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """The retry schedule and the rules for disabling an endpoint."""

    # delays[n - 1] is the wait after the n-th failed attempt; one more attempt than delays.
    delays: tuple[dt.timedelta, ...] = (
        dt.timedelta(seconds=5),
        dt.timedelta(minutes=5),
        dt.timedelta(minutes=30),
        dt.timedelta(hours=2),
        dt.timedelta(hours=5),
        dt.timedelta(hours=10),
        dt.timedelta(hours=10),
    )
    jitter: float = 0.2
    max_retry_after: dt.timedelta = dt.timedelta(hours=24)
    # An endpoint that failed every attempt for this long, at least this many in a row, is
    # disabled: one bad night does not disable it, a week of silence does.
    disable_after: dt.timedelta = dt.timedelta(days=5)
    disable_min_failures: int = 10

    @property
    def max_attempts(self) -> int:
        """How many attempts one message gets in all, the first included."""
        return len(self.delays) + 1


DEFAULT_POLICY = RetryPolicy()


class DisableReason(enum.StrEnum):
    """Why an endpoint stops receiving deliveries."""

    GONE = "gone"  # it answered 410 Gone
    FAILING = "failing"  # every attempt failed for the policy's whole window


def next_attempt_at(
    attempts_made: int,
    failed_at: dt.datetime,
    *,
    unit: float,
    retry_after: float | None = None,
    policy: RetryPolicy = DEFAULT_POLICY,
) -> dt.datetime | None:
    """When to make attempt `attempts_made + 1` after a failure at `failed_at`; None: give up.

    `unit` is a uniform random number in [0, 1) that the caller draws, so that this function
    stays pure; 0.5 gives the delay without jitter. `retry_after` is the receiver's
    Retry-After in seconds, if it sent one.
    """
    if attempts_made < 1:
        raise ValueError("attempts_made counts the failed attempts, so it is at least 1")
    if not 0.0 <= unit < 1.0:
        raise ValueError("unit must be in [0, 1)")
    if attempts_made >= policy.max_attempts:
        return None
    base = policy.delays[attempts_made - 1]
    delay = base * (1.0 + policy.jitter * (2.0 * unit - 1.0))
    if retry_after is not None and retry_after > 0:
        asked = min(dt.timedelta(seconds=retry_after), policy.max_retry_after)
        delay = max(delay, asked)
    # Whole seconds: the schedule is stored and compared in a database, not a hot loop.
    return failed_at + max(_SECOND, dt.timedelta(seconds=round(delay / _SECOND)))


def disable_reason(
    *,
    last_status: int | None,
    consecutive_failures: int,
    failing_since: dt.datetime | None,
    now: dt.datetime,
    policy: RetryPolicy = DEFAULT_POLICY,
) -> DisableReason | None:
    """Whether an endpoint should be disabled after its latest attempt, and why.

    `failing_since` is the time of the first failure in the current run of failures (None
    when the latest attempt succeeded); `consecutive_failures` counts that run.
    """
    if last_status == 410:
        return DisableReason.GONE
    if (
        failing_since is not None
        and consecutive_failures >= policy.disable_min_failures
        and now - failing_since >= policy.disable_after
    ):
        return DisableReason.FAILING
    return None

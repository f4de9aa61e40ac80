"""The retry schedule and the disable rule: pure functions of attempts, times and a draw."""

from __future__ import annotations

import datetime as dt

import pytest

from voidrunner.tasks.webhooks import (
    DEFAULT_POLICY,
    DisableReason,
    RetryPolicy,
    disable_reason,
    next_attempt_at,
    retry_after_seconds,
)

T0 = dt.datetime(2026, 12, 3, 6, 0, tzinfo=dt.UTC)
EXPECTED = [
    dt.timedelta(seconds=5),
    dt.timedelta(minutes=5),
    dt.timedelta(minutes=30),
    dt.timedelta(hours=2),
    dt.timedelta(hours=5),
    dt.timedelta(hours=10),
    dt.timedelta(hours=10),
]


def test_without_jitter_the_delays_follow_the_standard_schedule() -> None:
    delays = [next_attempt_at(n, T0, unit=0.5) for n in range(1, 8)]
    assert [when - T0 for when in delays if when is not None] == EXPECTED
    assert DEFAULT_POLICY.max_attempts == 8


def test_after_the_last_attempt_there_is_none() -> None:
    assert next_attempt_at(8, T0, unit=0.5) is None
    assert next_attempt_at(100, T0, unit=0.5) is None


@pytest.mark.parametrize("attempt", range(1, 8))
@pytest.mark.parametrize("unit", [0.0, 0.25, 0.75, 0.999999])
def test_jitter_stays_within_twenty_percent(attempt: int, unit: float) -> None:
    when = next_attempt_at(attempt, T0, unit=unit)
    assert when is not None
    base = EXPECTED[attempt - 1]
    assert base * 0.8 - dt.timedelta(seconds=1) <= when - T0 <= base * 1.2 + dt.timedelta(seconds=1)


def test_jitter_spreads_endpoints_that_failed_together() -> None:
    times = {next_attempt_at(4, T0, unit=u / 100) for u in range(100)}
    assert len(times) > 50


def test_the_schedule_is_pure() -> None:
    assert next_attempt_at(3, T0, unit=0.3) == next_attempt_at(3, T0, unit=0.3)


def test_retry_after_pushes_later_never_earlier_and_is_capped() -> None:
    assert next_attempt_at(1, T0, unit=0.5, retry_after=120) == T0 + dt.timedelta(minutes=2)
    assert next_attempt_at(4, T0, unit=0.5, retry_after=1) == T0 + dt.timedelta(hours=2)
    capped = next_attempt_at(1, T0, unit=0.5, retry_after=10**9)
    assert capped == T0 + dt.timedelta(hours=24)
    assert next_attempt_at(1, T0, unit=0.5, retry_after=-5) == T0 + dt.timedelta(seconds=5)


def test_a_custom_policy() -> None:
    policy = RetryPolicy(delays=(dt.timedelta(seconds=1),), jitter=0.0)
    assert next_attempt_at(1, T0, unit=0.9, policy=policy) == T0 + dt.timedelta(seconds=1)
    assert next_attempt_at(2, T0, unit=0.9, policy=policy) is None


@pytest.mark.parametrize(("attempts", "unit"), [(0, 0.5), (1, 1.0), (1, -0.1)])
def test_caller_mistakes_are_refused(attempts: int, unit: float) -> None:
    with pytest.raises(ValueError, match=r"attempts_made|unit"):
        next_attempt_at(attempts, T0, unit=unit)


def test_410_disables_at_once() -> None:
    reason = disable_reason(last_status=410, consecutive_failures=1, failing_since=T0, now=T0)
    assert reason is DisableReason.GONE


def test_an_endpoint_failing_for_days_is_disabled() -> None:
    later = T0 + dt.timedelta(days=5)
    failing = disable_reason(last_status=500, consecutive_failures=10, failing_since=T0, now=later)
    assert failing is DisableReason.FAILING
    assert str(failing) == "failing"


@pytest.mark.parametrize(
    ("failures", "since", "now"),
    [
        (10, T0, T0 + dt.timedelta(days=4, hours=23)),  # not long enough
        (9, T0, T0 + dt.timedelta(days=30)),  # too few attempts to judge
        (50, None, T0 + dt.timedelta(days=30)),  # the latest attempt succeeded
    ],
)
def test_a_bad_spell_does_not_disable(
    failures: int, since: dt.datetime | None, now: dt.datetime
) -> None:
    assert (
        disable_reason(last_status=503, consecutive_failures=failures, failing_since=since, now=now)
        is None
    )


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        (None, None),
        ("120", 120.0),
        (" 7 ", 7.0),
        ("Thu, 03 Dec 2026 06:10:00 GMT", 600.0),
        ("Thu, 03 Dec 2026 05:00:00 GMT", 0.0),
        ("soon", None),
        ("Thu, 03 Dec 2026 06:10:00", None),  # no zone: not a valid HTTP date
        ("-1", None),
        ("1.5", None),
    ],
)
def test_retry_after_headers(header: str | None, seconds: float | None) -> None:
    assert retry_after_seconds(header, T0.timestamp()) == seconds

"""The executor's metrics: its slots, and the jobs it took by runtime and outcome."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

SLOTS = Gauge(
    "voidrunner_executor_slots",
    "This executor's sandbox slots, by state (busy, free).",
    ["state"],
)
JOBS = Counter(
    "voidrunner_executor_jobs",
    "Jobs this executor took, by runtime and outcome (ran, cancelled, handed_back, retried).",
    ["runtime", "outcome"],
)
JOB_SECONDS = Histogram(
    "voidrunner_executor_job_seconds",
    "Time from taking a job to publishing its result (sandbox start and compile included).",
    ["runtime"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900),
)
REDELIVERED = Counter(
    "voidrunner_executor_redelivered_jobs",
    "Jobs this executor took that an earlier delivery had not settled, by lane.",
    ["lane"],
)

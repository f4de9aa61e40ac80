"""The executor's metrics: its slots, and the jobs it took by runtime and outcome."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from voidrunner.executor.sandbox.types import RunResult

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
SANDBOX_OVERHEAD = Histogram(
    "voidrunner_sandbox_overhead_seconds",
    "A run's wall time in the sandbox beyond the program's own and its compiler's: start, "
    "set-up and teardown, by backend.",
    ["backend"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)

COMPILE_STEPS = Counter(
    "voidrunner_sandbox_compile_steps",
    "Compile steps the sandboxes started (one per execution of a compiled runtime, however "
    "many test cases it has), by backend and runtime.",
    ["backend", "runtime"],
)

RUN_STARTS = Counter(
    "voidrunner_sandbox_run_starts",
    "Run steps the sandboxes started, by backend and how (warm: in a sandbox started ahead of "
    "demand; cold: started for the run).",
    ["backend", "start"],
)


def observe_overhead(backend: str, wall_seconds: float, result: RunResult) -> None:
    """Observe what a run cost beyond its program (never negative: the clocks differ)."""
    program = (result.execution_time_ms + (result.compile_time_ms or 0)) / 1000
    SANDBOX_OVERHEAD.labels(backend).observe(max(0.0, wall_seconds - program))

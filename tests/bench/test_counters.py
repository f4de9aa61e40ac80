"""The benchmark's per-execution counters come from the servers themselves: a counting dev stack's
PostgreSQL counts statements and its NATS server reports messages and JetStream API calls."""

from __future__ import annotations

import tempfile
from pathlib import Path

from bench import _counters
from voidrunner.devstack.runner import DevSettings, DevStack


def test_counters_grow_with_the_work_done() -> None:
    # Not under pytest's tmp_path (0700): as root, PostgreSQL runs as nobody and must enter it.
    with tempfile.TemporaryDirectory(prefix="vr-counters-") as root:
        Path(root).chmod(0o755)
        _count_in(Path(root))


def _count_in(root: Path) -> None:
    stack = DevStack(
        DevSettings(
            dev_data_dir=root / "data", dev_run_dir=root / "run", database_url="", nats_url=""
        ),
        counting=True,
    )
    try:
        database_url, _nats_url = stack.start_infrastructure()
        before = _counters.read(database_url, stack.nats_monitor_url)
        after = _counters.read(database_url, stack.nats_monitor_url)
        # Reading counts itself: one statement per read, nothing else runs here.
        assert after.sql_statements > before.sql_statements
        assert after.nats_messages_in >= before.nats_messages_in >= 0
        assert after.per(before, 1)["sql_statements"] >= 1
    finally:
        stack.stop()

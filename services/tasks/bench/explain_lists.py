"""Print EXPLAIN ANALYZE figures for the task list queries on a realistic table.

100k tasks of one user plus 50k spread over 50 others, then every sort and order on a first and a
deep keyset page, the offset count, and the q / metadata / status filters; each once with the
migration's indexes and once with the list indexes dropped (inside a rolled-back transaction).

    .venv/bin/python services/tasks/bench/explain_lists.py
"""

from __future__ import annotations

import asyncio
import json
import random
import shutil
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg

from voidrunner.common.db import Queries
from voidrunner.common.migrations import Migrator
from voidrunner.devstack.postgres import EmbeddedPostgres, PostgresConfig
from voidrunner.tasks.schema import COMPONENT, MIGRATIONS_DIR, QUERIES_FILE

USER = uuid.UUID("00000000-0000-4000-8000-000000000001")
MAIN_ROWS = 100_000
OTHER_ROWS = 50_000
WORDS = ["alpha", "build", "report", "nightly", "etl", "backup", "deploy", "scrape", "train"]
LIST_INDEXES = [
    "tasks_user_created_idx",
    "tasks_user_updated_idx",
    "tasks_user_priority_idx",
    "tasks_user_name_idx",
    "tasks_search_trgm_idx",
    "tasks_metadata_idx",
]


def _rows(user: uuid.UUID, n: int, rng: random.Random) -> list[tuple[Any, ...]]:
    base = datetime(2026, 1, 1, tzinfo=UTC)
    rows = []
    for i in range(n):
        created = base + timedelta(seconds=i // 3)  # ties on purpose
        name = f"{rng.choice(WORDS)}-{rng.choice(WORDS)}-{i % 5000}"
        rows.append(
            (
                uuid.uuid4(), user, name, f"runs {rng.choice(WORDS)} job {i}", "print(1)",
                rng.choice(["python", "bash", "javascript", "go"]),
                rng.choice(["pending", "completed", "completed", "failed"]), rng.randint(0, 10),
                300, json.dumps({"team": f"t{i % 20}", "env": rng.choice(["prod", "dev"])}),
                "{}", 256, 1.0, 1_048_576, created,
                created + timedelta(seconds=rng.randint(0, 10**6)),
            )
        )  # fmt: skip
    return rows


async def _explain(conn: asyncpg.Connection, sql: str, *args: Any) -> tuple[float, str]:
    plan = await conn.fetchval(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}", *args)
    doc = json.loads(plan)[0]
    node = doc["Plan"]
    shape = node["Node Type"]
    while node.get("Plans"):
        node = node["Plans"][0]
        shape += f" > {node['Node Type']}" + (
            f"({node['Index Name']})" if "Index Name" in node else ""
        )
    return doc["Execution Time"], shape


async def _measure(conn: asyncpg.Connection, q: Queries, label: str) -> None:
    print(f"\n== {label}")
    for field in ("created_at", "updated_at", "priority", "name"):
        for order in ("asc", "desc"):
            sql = getattr(q, f"list_tasks_{field}_{order}")
            first = await _explain(conn, sql, USER, None, None, None, None, None, None, 21, 0)
            # A position 60k rows deep, as a keyset cursor would carry it.
            row = await conn.fetchrow(
                f"SELECT {field} AS v, id FROM tasks WHERE user_id = $1 "  # noqa: S608
                f"ORDER BY {field} {order}, id {order} OFFSET 60000 LIMIT 1",
                USER,
            )
            assert row is not None
            deep = await _explain(
                conn, sql, USER, None, None, None, None, row["v"], row["id"], 21, 0
            )
            print(
                f"{field:>10} {order:<4}  first {first[0]:7.2f} ms"
                f"  deep-keyset {deep[0]:7.2f} ms  {deep[1]}"
            )
    off = await _explain(
        conn, q.list_tasks_created_at_desc, USER, None, None, None, None, None, None, 21, 60000
    )
    print(f"offset 60000 created_at desc {off[0]:7.2f} ms  {off[1]}")
    cnt = await _explain(conn, q.count_tasks, USER, None, None, None, None)
    print(f"count (offset mode total)    {cnt[0]:7.2f} ms  {cnt[1]}")
    filters: list[tuple[str, tuple[Any, ...]]] = [
        ("status=failed (25 %)", ("failed", None, None, None)),
        ("status=running (none)", ("running", None, None, None)),
        ("script_type=go (25 %)", (None, "go", None, None)),
        ("q=%etl% (common)", (None, None, "%etl%", None)),
        ("q=%nightly-etl-42%", (None, None, "%nightly-etl-42%", None)),
        ("q=%zzz% (no match)", (None, None, "%zzz%", None)),
        ('metadata @> {"team":"t7"}', (None, None, None, {"team": "t7"})),
    ]
    for name, params in filters:
        page = await _explain(conn, q.list_tasks_created_at_desc, USER, *params, None, None, 21, 0)
        total = await _explain(conn, q.count_tasks, USER, *params)
        print(f"{name:<28} page {page[0]:7.2f} ms  count {total[0]:7.2f} ms  {page[1]}")


async def main() -> None:
    data = Path(tempfile.mkdtemp(prefix="voidrunner-bench-pg-"))
    server = EmbeddedPostgres(PostgresConfig(data, fast=True))
    server.start()
    try:
        conn = await asyncpg.connect(
            server.dsn, server_settings={"plan_cache_mode": "force_custom_plan"}
        )
        # Binary jsonb (a version byte, then the text) so COPY can load it.
        await conn.set_type_codec(
            "jsonb",
            encoder=lambda v: b"\x01" + json.dumps(v).encode(),
            decoder=lambda b: json.loads(b[1:]),
            schema="pg_catalog",
            format="binary",
        )
        await Migrator(COMPONENT, MIGRATIONS_DIR).up(conn)
        rng = random.Random(7)  # noqa: S311 - reproducible test data, not secrets
        started = time.perf_counter()
        rows = _rows(USER, MAIN_ROWS, rng)
        for _ in range(50):
            rows += _rows(uuid.uuid4(), OTHER_ROWS // 50, rng)
        cols = ["id", "user_id", "name", "description", "script_content", "script_type", "status",
                "priority", "timeout_seconds", "metadata", "env", "memory_limit_mb", "cpu_limit",
                "max_output_bytes", "created_at", "updated_at"]  # fmt: skip
        await conn.copy_records_to_table(
            "tasks", records=[(*r[:9], json.loads(r[9]), {}, *r[11:]) for r in rows], columns=cols
        )
        await conn.execute("VACUUM ANALYZE tasks")  # steady state, as autovacuum leaves it
        print(f"loaded {len(rows)} rows in {time.perf_counter() - started:.1f} s")
        q = Queries(QUERIES_FILE)
        await _measure(conn, q, "with the migration's indexes")
        async with conn.transaction():
            for name in LIST_INDEXES:
                await conn.execute(f"DROP INDEX {name}")
            await _measure(conn, q, "without the list indexes (only the primary key)")
            raise asyncio.CancelledError  # roll back
    except asyncio.CancelledError:
        pass
    finally:
        server.stop()
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())

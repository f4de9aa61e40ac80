"""What the pipeline's servers did, counted by the servers themselves: SQL statements
(pg_stat_statements) and NATS messages and JetStream API calls (the NATS monitoring endpoint).

Read before and after a window; the difference divided by the executions finished in it is the
per-execution figure the performance issue asks for (JetStream operations, SQL statements).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import asyncpg
import httpx


@dataclass(frozen=True, slots=True)
class Counters:
    """Totals since the servers started."""

    sql_statements: int
    jetstream_api: int
    nats_messages_in: int
    # Calls per statement text (normalized by pg_stat_statements), to see which ones add up.
    by_statement: dict[str, int] = field(default_factory=dict)

    def per(self, earlier: Counters, count: int) -> dict[str, float]:
        """Each counter's growth since `earlier`, per one of `count` operations."""
        n = max(1, count)
        return {
            "sql_statements": round((self.sql_statements - earlier.sql_statements) / n, 1),
            "jetstream_api_calls": round((self.jetstream_api - earlier.jetstream_api) / n, 1),
            "nats_messages_in": round((self.nats_messages_in - earlier.nats_messages_in) / n, 1),
        }

    def top_statements(
        self, earlier: Counters, count: int, most: int = 12
    ) -> list[dict[str, object]]:
        """The statements run most per operation since `earlier` (first line of each)."""
        n = max(1, count)
        grown = {
            query: calls - earlier.by_statement.get(query, 0)
            for query, calls in self.by_statement.items()
        }
        ranked = sorted(((c, q) for q, c in grown.items() if c > 0), reverse=True)[:most]
        return [
            {"per_execution": round(c / n, 2), "statement": " ".join(q.split())[:160]}
            for c, q in ranked
        ]


async def _statements(database_url: str) -> dict[str, int]:
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(
            "SELECT query, sum(calls)::bigint AS calls FROM pg_stat_statements GROUP BY query"
        )
    finally:
        await conn.close()
    return {row["query"]: int(row["calls"]) for row in rows}


def read(database_url: str, nats_monitor_url: str) -> Counters:
    """The servers' totals now."""
    with httpx.Client(base_url=nats_monitor_url, timeout=10, trust_env=False) as http:
        jsz = http.get("/jsz").json()
        varz = http.get("/varz").json()
    statements = asyncio.run(_statements(database_url))
    return Counters(
        sql_statements=sum(statements.values()),
        by_statement=statements,
        jetstream_api=int(jsz.get("api", {}).get("total", 0)),
        nats_messages_in=int(varz.get("in_msgs", 0)),
    )

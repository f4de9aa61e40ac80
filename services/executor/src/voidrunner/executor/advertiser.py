"""Advertising this executor's runtimes (availability and versions) and its status (slots,
heartbeat) in NATS KV buckets.

The gateway lists the runtimes at GET /api/v1/runtimes beside the tasks service's limits, and
the status at GET /api/v1/admin/executors; entries expire with their bucket's TTL, so only live
executors are listed.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

from nats.js.kv import KeyValue

from voidrunner.common.logs import get_logger
from voidrunner.contracts.executors import ExecutorStatus
from voidrunner.contracts.runtimes import RuntimeCatalog
from voidrunner.contracts.topology import EXECUTOR_STATUS_SECONDS, RUNTIMES_TTL_SECONDS
from voidrunner.executor.sandbox.types import Sandbox

_log = get_logger("voidrunner.executor.advertiser")


def advertisements(sandbox: Sandbox, catalog: RuntimeCatalog, executor_id: str) -> dict[str, bytes]:
    """KV entries saying which runtimes of `catalog` this executor offers, in which version.

    Limits are not advertised: a task's defaults and caps are the tasks service's, from the
    same catalogue file (GET /runtimes asks it)."""
    entries: dict[str, bytes] = {}
    infos = {info.name: info for info in sandbox.runtimes()}
    for spec in catalog:
        info = infos.get(spec.name)
        entry = {
            "name": spec.name,
            "language": spec.language,
            "version": info.version if info and info.version else spec.version,
            "available": bool(info and info.available),
            "reason": info.reason if info else "not offered by this backend",
            "backend": sandbox.name,
        }
        entries[f"{spec.name}.{executor_id}"] = json.dumps(entry).encode()
    return entries


async def advertise(kv: KeyValue, entries: dict[str, bytes], stop: asyncio.Event) -> None:
    """Put the entries now and again every third of the TTL until `stop`."""
    while not stop.is_set():
        try:
            for key, value in entries.items():
                await kv.put(key, value)
        except Exception:  # NATS away: the next round retries
            _log.warning("runtime advertisement failed", exc_info=True)
        try:
            await asyncio.wait_for(stop.wait(), timeout=RUNTIMES_TTL_SECONDS / 3)
        except TimeoutError:
            continue


async def report_status(
    kv: KeyValue, status: Callable[[bool], ExecutorStatus], stop: asyncio.Event
) -> None:
    """Put `status(draining=False)` every EXECUTOR_STATUS_SECONDS until `stop`, then once with
    draining set (the entry then expires with the bucket's TTL)."""
    while True:
        stopping = stop.is_set()
        current = status(stopping)
        try:
            await kv.put(current.executor_id, current.encode())
        except Exception:  # NATS away: the next round retries
            _log.warning("executor status report failed", exc_info=True)
        if stopping:
            return
        try:
            await asyncio.wait_for(stop.wait(), timeout=EXECUTOR_STATUS_SECONDS)
        except TimeoutError:
            continue

"""What an executor says about itself in the executors bucket, for the operator's view.

Executors put it (topology.EXECUTORS_BUCKET); gateways read it for GET /api/v1/admin/executors.
It names no user, task or execution: only the executor's own capacity.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ExecutorStatus:
    """One executor at one heartbeat."""

    executor_id: str
    backend: str
    # The runtimes this executor can run now (the catalogue's names).
    runtimes: tuple[str, ...]
    slots: int
    busy: int
    # Stopping: it finishes or hands back what it runs and takes nothing new.
    draining: bool
    started_at: dt.datetime
    heartbeat_at: dt.datetime

    def encode(self) -> bytes:
        return json.dumps(
            {
                "executor_id": self.executor_id,
                "backend": self.backend,
                "runtimes": list(self.runtimes),
                "slots": self.slots,
                "busy": self.busy,
                "draining": self.draining,
                "started_at": self.started_at.isoformat(),
                "heartbeat_at": self.heartbeat_at.isoformat(),
            }
        ).encode()

    @classmethod
    def decode(cls, raw: bytes) -> ExecutorStatus:
        """The status in `raw`; ValueError/KeyError/TypeError when malformed."""
        data = json.loads(raw)
        return cls(
            executor_id=str(data["executor_id"]),
            backend=str(data["backend"]),
            runtimes=tuple(str(r) for r in data["runtimes"]),
            slots=int(data["slots"]),
            busy=int(data["busy"]),
            draining=bool(data["draining"]),
            started_at=dt.datetime.fromisoformat(data["started_at"]),
            heartbeat_at=dt.datetime.fromisoformat(data["heartbeat_at"]),
        )

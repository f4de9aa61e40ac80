"""Best-effort NATS notices about executions (the database state is already committed).

    cancel  CancelRequest on the cancel subject (core NATS): the executor running it stops it.
            For a run whose job was already handed to the pipeline but not yet started, the id
            also goes into the cancelled bucket, which executors check before starting a job.
    final   the execution id on vr.final.<id> (core NATS): the gateway's ?wait=N wakes up.

Nothing here may fail a request: without NATS a notice is dropped with a warning (a run that is
not stopped hits its timeout; a waiting client re-reads the execution when its wait ends).
"""

from __future__ import annotations

import uuid
from typing import Protocol

from nats.aio.client import Client as NATS
from nats.js.kv import KeyValue

from voidrunner.common.logs import get_logger
from voidrunner.common.tracing import with_trace
from voidrunner.contracts import topology
from voidrunner.contracts.streams import cancelled_bucket
from voidrunner.proto.jobs.v1 import jobs_pb2

_log = get_logger("voidrunner.tasks.notifier")


class Notifier(Protocol):
    """What the execution rules announce after committing."""

    async def cancelled(self, execution_id: uuid.UUID, *, started: bool) -> None: ...

    async def final(self, execution_id: uuid.UUID) -> None: ...


class NatsNotifier:
    """Notifier over a NATS connection that may be absent or down."""

    def __init__(self, cancel_subject: str = topology.CANCEL_SUBJECT) -> None:
        self.cancel_subject = cancel_subject
        self.nc: NATS | None = None
        self._cancelled_kv: KeyValue | None = None

    def _connected(self, what: str, execution_id: uuid.UUID) -> NATS | None:
        if self.nc is None or not self.nc.is_connected:
            _log.warning(
                "nats unavailable; notice dropped", notice=what, execution_id=str(execution_id)
            )
            return None
        return self.nc

    async def cancelled(self, execution_id: uuid.UUID, *, started: bool) -> None:
        """Ask executors to stop (and, for a not yet started run, never to start) it."""
        nc = self._connected("cancel", execution_id)
        if nc is None:
            return
        try:
            if not started:
                if self._cancelled_kv is None:
                    self._cancelled_kv = await cancelled_bucket(nc.jetstream())
                await self._cancelled_kv.put(str(execution_id), b"1")
            message = jobs_pb2.CancelRequest(execution_id=str(execution_id))
            await nc.publish(self.cancel_subject, message.SerializeToString())
        except Exception:  # best effort: the execution is already cancelled in the database
            self._cancelled_kv = None
            _log.warning("cancel notice failed", execution_id=str(execution_id), exc_info=True)

    async def final(self, execution_id: uuid.UUID) -> None:
        """Wake clients waiting for this execution to finish."""
        nc = self._connected("final", execution_id)
        if nc is None:
            return
        try:
            # With the trace context of what finished it (the recorder's span): the gateway's
            # waiter closes that trace.
            await nc.publish(
                topology.final_subject(str(execution_id)),
                str(execution_id).encode(),
                headers=with_trace({}) or None,
            )
        except Exception:  # best effort, as above
            _log.warning("final notice failed", execution_id=str(execution_id), exc_info=True)

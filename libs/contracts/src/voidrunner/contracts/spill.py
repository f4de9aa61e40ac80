"""Moving bytes too large for one NATS message: published in bounded parts, read back whole.

Used for a job's inputs (files, stdin, test cases) on their way to an executor and for a
result's output on its way back. The parts go to a durable stream under a subject of their own,
each with a Nats-Msg-Id (so a retried publish stores nothing twice); the small message that
follows names their count, size and SHA-256, and the reader checks all three.

    spill = await publish_parts(js, subject, msg_ids, data)          # jobs_pb2.Spill
    data = await read_parts(js, stream, subject, msg_ids, spill)     # raises SpillLost
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from nats.js.client import JetStreamContext
from nats.js.errors import NotFoundError

from voidrunner.contracts.topology import MSG_ID_HEADER, OUTPUT_PART_BYTES
from voidrunner.proto.jobs.v1 import jobs_pb2

__all__ = ["MsgIds", "SpillLost", "publish_parts", "read_parts"]

# part number (1-based) → its Nats-Msg-Id
MsgIds = Callable[[int], str]


class SpillLost(Exception):
    """The parts are missing or do not match what the announcing message says."""


async def publish_parts(
    js: JetStreamContext, subject: str, msg_ids: MsgIds, data: bytes
) -> jobs_pb2.Spill:
    """Publish `data` in parts of at most OUTPUT_PART_BYTES (each acknowledged)."""
    starts = range(0, len(data), OUTPUT_PART_BYTES)
    for number, start in enumerate(starts, start=1):
        await js.publish(
            subject,
            data[start : start + OUTPUT_PART_BYTES],
            headers={MSG_ID_HEADER: msg_ids(number)},
        )
    return jobs_pb2.Spill(parts=len(starts), size=len(data), sha256=hashlib.sha256(data).digest())


async def read_parts(
    js: JetStreamContext, stream: str, subject: str, msg_ids: MsgIds, spill: jobs_pb2.Spill
) -> bytes:
    """The bytes `spill` announces; SpillLost unless every part is there and they match."""
    wanted = {msg_ids(n): n for n in range(1, spill.parts + 1)}
    parts: dict[int, bytes] = {}
    seq = 1
    # A part republished after a lost acknowledgement may be stored twice: keep one per number,
    # by its Nats-Msg-Id; anything else on the subject is not ours and is skipped.
    while len(parts) < spill.parts:
        try:
            msg = await js.get_msg(stream, seq=seq, subject=subject, next=True)
        except NotFoundError:
            raise SpillLost(f"{len(parts)} of {spill.parts} parts found") from None
        seq = (msg.seq or seq) + 1
        number = wanted.get((msg.headers or {}).get(MSG_ID_HEADER, ""))
        if number is not None and number not in parts:
            parts[number] = msg.data or b""
            if sum(map(len, parts.values())) > spill.size:
                raise SpillLost("parts larger than announced")
    data = b"".join(parts[n] for n in range(1, spill.parts + 1))
    if len(data) != spill.size or hashlib.sha256(data).digest() != spill.sha256:
        raise SpillLost("parts do not match their digest")
    return data

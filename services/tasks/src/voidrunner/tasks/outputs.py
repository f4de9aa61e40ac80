"""Reading the outputs that were too large to travel inside their result (VR_OUTPUT).

An executor publishes such an output, serialized, in numbered parts on
vr.output.<execution id>.<attempt> before the result that names their count, size and digest.
The recorder reads them back here, checks them, and purges them once the output is stored.
"""

from __future__ import annotations

from typing import Protocol

from nats.js.client import JetStreamContext

from voidrunner.contracts import topology as t
from voidrunner.contracts.spill import SpillLost, read_parts
from voidrunner.proto.jobs.v1 import jobs_pb2

__all__ = ["JetStreamOutputs", "OutputLost", "OutputStore"]


class OutputLost(Exception):
    """The spilled output is missing or does not match its result (size, digest, parts)."""


class OutputStore(Protocol):
    """Where the recorder finds spilled outputs."""

    async def fetch(
        self, execution_id: str, attempt: int, claim_tag: str, spill: jobs_pb2.Spill
    ) -> jobs_pb2.RunOutput:
        """The output `spill` describes, as the holder of claim `claim_tag` published it;
        OutputLost when it cannot be had whole."""
        ...

    async def purge(self, execution_id: str, attempt: int) -> None:
        """Drop the parts of a stored output (best effort: the stream's max age cleans up)."""
        ...


class JetStreamOutputs:
    """`OutputStore` over the VR_OUTPUT stream."""

    def __init__(self, js: JetStreamContext) -> None:
        self._js = js

    async def fetch(
        self, execution_id: str, attempt: int, claim_tag: str, spill: jobs_pb2.Spill
    ) -> jobs_pb2.RunOutput:
        try:
            data = await read_parts(
                self._js,
                t.OUTPUT_STREAM,
                t.output_subject(execution_id, attempt),
                # Only the parts the claim's holder published: anything else on the subject
                # (another executor's forgery) is skipped.
                lambda n: t.output_msg_id(execution_id, attempt, n, claim_tag),
                spill,
            )
        except SpillLost as exc:
            raise OutputLost(f"output {exc}") from exc
        try:
            return jobs_pb2.RunOutput.FromString(data)
        except Exception as exc:  # DecodeError: a broken or hostile executor
            raise OutputLost(f"output is not a RunOutput: {exc}") from exc

    async def purge(self, execution_id: str, attempt: int) -> None:
        await self._js.purge_stream(
            t.OUTPUT_STREAM, subject=t.output_subject(execution_id, attempt)
        )
        # The job's inputs, if they were spilled, are no longer needed either.
        await self._js.purge_stream(t.INPUTS_STREAM, subject=t.inputs_subject(execution_id))

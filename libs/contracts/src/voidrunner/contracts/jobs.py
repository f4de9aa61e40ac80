"""Publishing a job and reading its inputs: the one place that decides inline or spilled.

A job's inputs (files, stdin, test cases) are sized by the user; past INLINE_INPUT_BYTES they
travel as parts on vr.inputs.<execution id> (contracts.spill) and the job names them, so the
relay, the reaper and the scheduler publish jobs of a fixed bound whatever a task holds.
"""

from __future__ import annotations

from nats.js.client import JetStreamContext

from voidrunner.contracts import topology as t
from voidrunner.contracts.spill import publish_parts, read_parts
from voidrunner.proto.jobs.v1 import jobs_pb2

__all__ = ["INLINE_INPUT_BYTES", "job_inputs", "publish_job", "spilled"]

INLINE_INPUT_BYTES = 256 * 1024


async def spilled(js: JetStreamContext, job: jobs_pb2.Job) -> jobs_pb2.Job:
    """`job` itself when its inputs are small (or already spilled), else a copy whose inputs
    were published in parts first."""
    if not job.HasField("inline_inputs") or job.inline_inputs.ByteSize() <= INLINE_INPUT_BYTES:
        return job
    eid = job.execution_id
    spill = await publish_parts(
        js,
        t.inputs_subject(eid),
        lambda n: t.inputs_msg_id(eid, n),
        job.inline_inputs.SerializeToString(),
    )
    copy = jobs_pb2.Job()
    copy.CopyFrom(job)
    copy.spilled_inputs.CopyFrom(spill)
    return copy


async def publish_job(
    js: JetStreamContext,
    subject: str,
    job: jobs_pb2.Job,
    msg_id: str,
    *,
    ack_seconds: float = 5.0,
    headers: dict[str, str] | None = None,
) -> None:
    """Publish `job` on `subject` (a stream's), spilling large inputs first; `headers` (a trace
    context) go with it."""
    ready = await spilled(js, job)
    await js.publish(
        subject,
        ready.SerializeToString(),
        timeout=ack_seconds,
        headers={**(headers or {}), t.MSG_ID_HEADER: msg_id},
    )


async def job_inputs(js: JetStreamContext, job: jobs_pb2.Job) -> jobs_pb2.RunInputs:
    """The job's inputs, read back from VR_INPUTS when they were spilled (raises SpillLost)."""
    if job.HasField("spilled_inputs"):
        eid = job.execution_id
        data = await read_parts(
            js,
            t.INPUTS_STREAM,
            t.inputs_subject(eid),
            lambda n: t.inputs_msg_id(eid, n),
            job.spilled_inputs,
        )
        return jobs_pb2.RunInputs.FromString(data)
    return job.inline_inputs

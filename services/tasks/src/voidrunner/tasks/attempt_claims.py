"""Which executor may report an execution: the holder of its current attempt's claim.

The rules (voidrunner.contracts.claims explains the claim itself), applied under the execution's
row lock by ExecutionService.update:
  - the holder of the current claim reports its attempt (started again, log layout, result);
  - an attempt later than the current one takes over with its own claim (a redelivery: the
    previous executor is presumed gone, and its reports are refused from now on);
  - the first claim of an execution binds it, also from a result whose "started" was lost;
  - anything else is refused: an earlier attempt, or another claim for the current attempt.
Reports without a claim are the pipeline's own (reaper, dead letters) or an admin's; the
recorder accepts those only from the subjects executors cannot publish to.
"""

from __future__ import annotations

from voidrunner.contracts.claims import same_claim
from voidrunner.tasks.errors import ClaimRefused


def claim_after(held: bytes | None, current_attempt: int, presented: bytes, attempt: int) -> bytes:
    """The claim hash to keep once a report under `presented` for `attempt` is accepted;
    ClaimRefused when it may not report."""
    if attempt == current_attempt and same_claim(held, presented):
        return presented
    if held is None and attempt >= current_attempt:
        return presented
    if attempt > current_attempt:
        return presented
    if attempt < current_attempt:
        raise ClaimRefused(f"attempt {attempt} was taken over by attempt {current_attempt}")
    raise ClaimRefused(f"attempt {attempt} is claimed by another executor")

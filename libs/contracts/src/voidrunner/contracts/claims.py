"""Claim-bound attempts: only the executor running an execution's current attempt reports it.

JetStream redelivers a job's exact bytes, so nothing inside a job can tell a stale executor from
its successor. Instead, an executor makes a fresh secret for each attempt it runs (its claim) and
sends it with that attempt's "started" event and result. Only the tasks service and scheduler read
those events, so no other executor learns it. The recorder keeps the claim's hash with the
execution (the running transition binds it; a later attempt replaces it) and accepts a result
only with the current claim; the pipeline's own results (reaper, dead letters) travel on a
subject only the scheduler may publish to.

The claim's tag (a prefix of its hash) travels where a secret must not: in every log chunk, so
the gateway shows viewers only the current claim's output, and in the Nats-Msg-Id of everything
the attempt publishes, so another client that guessed an id cannot have the stream drop the real
message as a duplicate.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

__all__ = ["CLAIM_BYTES", "Claim", "claim_hash", "claim_tag", "same_claim"]

CLAIM_BYTES = 32
TAG_BYTES = 8
_DOMAIN = b"voidrunner-claim:"


def claim_hash(secret: bytes) -> bytes:
    """What is stored of a claim (SHA-256, domain-separated)."""
    return hashlib.sha256(_DOMAIN + secret).digest()


def claim_tag(hash_: bytes) -> str:
    """A claim's public name: the first bytes of its hash, in hex ("" for no claim)."""
    return hash_[:TAG_BYTES].hex()


def same_claim(a: bytes | None, b: bytes | None) -> bool:
    """Whether two stored claim hashes are the same claim (constant time)."""
    return a is not None and b is not None and hmac.compare_digest(a, b)


@dataclass(frozen=True, slots=True)
class Claim:
    """One attempt's claim, as the executor running it holds it."""

    secret: bytes

    @classmethod
    def new(cls) -> Claim:
        """A fresh claim for an attempt about to run."""
        return cls(secrets.token_bytes(CLAIM_BYTES))

    @property
    def hash(self) -> bytes:
        """What the recorder stores."""
        return claim_hash(self.secret)

    @property
    def tag(self) -> str:
        """What log chunks and message ids carry."""
        return claim_tag(self.hash)

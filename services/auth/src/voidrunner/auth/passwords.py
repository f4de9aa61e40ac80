"""argon2id password hashing, run off the event loop (hashing is deliberately slow)."""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError


class Passwords:
    """Hash and verify passwords; `verify_dummy` spends the same time when a user is unknown."""

    def __init__(self, *, time_cost: int, memory_kib: int, parallelism: int) -> None:
        self._hasher = PasswordHasher(
            time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism
        )
        self._dummy = self._hasher.hash("not-a-real-password-Aa1!")

    async def hash(self, password: str) -> str:
        """An argon2id hash of `password`."""
        return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, stored_hash: str, password: str) -> bool:
        """True when `password` matches `stored_hash`."""
        return await asyncio.to_thread(self._verify, stored_hash, password)

    async def verify_dummy(self, password: str) -> None:
        """Spend a verification's time so an unknown email is not told apart by timing."""
        await asyncio.to_thread(self._verify, self._dummy, password)

    def _verify(self, stored_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(stored_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

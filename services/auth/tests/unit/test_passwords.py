"""argon2id hashing: a hash verifies its password only, and junk hashes never verify."""

from __future__ import annotations

from voidrunner.auth.passwords import Passwords

FAST = Passwords(time_cost=1, memory_kib=1024, parallelism=1)


async def test_a_hash_verifies_its_password_and_no_other() -> None:
    stored = await FAST.hash("Sup3r-secret!")
    assert stored.startswith("$argon2id$")
    assert stored != await FAST.hash("Sup3r-secret!")  # salted
    assert await FAST.verify(stored, "Sup3r-secret!")
    assert not await FAST.verify(stored, "sup3r-secret!")


async def test_a_malformed_hash_is_a_mismatch_not_an_error() -> None:
    assert not await FAST.verify("not-a-hash", "Sup3r-secret!")
    await FAST.verify_dummy("whatever")  # spends the time, says nothing

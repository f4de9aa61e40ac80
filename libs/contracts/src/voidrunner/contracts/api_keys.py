"""API keys: their text, their scopes, and the entry the auth service publishes for gateways.

A key reads `vr_<key id>_<secret>`: the id (16 bytes) and the secret (32 random bytes) are both
unpadded base64url, so a gateway finds the key's entry in the valid-keys bucket by id, without a
database, and compares the SHA-256 of the presented secret with the entry's hash. 32 random
bytes cannot be guessed, so a fast hash is enough (a slow one protects guessable passwords).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import enum
import hashlib
import json
import uuid
from dataclasses import dataclass

from voidrunner.contracts.roles import Role

KEY_PREFIX = "vr_"
# How many leading characters of a key a list shows ("vr_" and 8 of the id).
SHOWN_PREFIX_LENGTH = 11
SECRET_BYTES = 32
# "vr_" + 22 characters of id + "_" + 43 characters of secret.
_KEY_LENGTH = 69


class Scope(enum.StrEnum):
    """What a key may do. `run` includes `read`; `manage` includes both. `admin` (the admin
    routes, with `read`) only an admin may give a key, and it works only while its owner is one."""

    READ = "read"
    RUN = "run"
    MANAGE = "manage"
    ADMIN = "admin"


# Each scope with the scopes it implies.
IMPLIED: dict[Scope, frozenset[Scope]] = {
    Scope.READ: frozenset({Scope.READ}),
    Scope.RUN: frozenset({Scope.READ, Scope.RUN}),
    Scope.MANAGE: frozenset({Scope.READ, Scope.RUN, Scope.MANAGE}),
    Scope.ADMIN: frozenset({Scope.READ, Scope.ADMIN}),
}
ALL_SCOPES = frozenset(Scope)


def effective(scopes: frozenset[Scope]) -> frozenset[Scope]:
    """`scopes` with everything they imply."""
    out: set[Scope] = set()
    for scope in scopes:
        out |= IMPLIED[scope]
    return frozenset(out)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def format_key(key_id: uuid.UUID, secret: bytes) -> str:
    """The text of a key."""
    return f"{KEY_PREFIX}{_b64(key_id.bytes)}_{_b64(secret)}"


def parse_key(text: str) -> tuple[uuid.UUID, bytes] | None:
    """(key id, secret) of a well-formed key, else None."""
    # base64url's alphabet has "_", so the parts are told apart by length, not by splitting.
    if len(text) != _KEY_LENGTH or not text.startswith(KEY_PREFIX):
        return None
    id_part, sep, secret_part = text[3:25], text[25], text[26:]
    if sep != "_":
        return None
    try:
        raw_id, secret = _unb64(id_part), _unb64(secret_part)
    except (binascii.Error, ValueError):
        return None
    key_id = uuid.UUID(bytes=raw_id) if len(raw_id) == 16 else None
    # Re-encoding refuses non-canonical spellings (stray bits in the last character).
    if key_id is None or format_key(key_id, secret) != text:
        return None
    return key_id, secret


def secret_hash(secret: bytes) -> str:
    """The hex SHA-256 stored (and published) instead of the secret."""
    return hashlib.sha256(secret).hexdigest()


@dataclass(frozen=True, slots=True)
class KeyEntry:
    """A valid key as the valid-keys bucket holds it (bucket key = the key id)."""

    user_id: uuid.UUID
    email: str
    scopes: frozenset[Scope]
    secret_hash: str
    expires_at: dt.datetime | None
    # The owner's role when the entry was published; the auth service republishes the entries
    # of a user whose role changes, so an `admin` key of a demoted admin stops opening admin routes.
    owner_role: Role = Role.USER

    @property
    def is_admin(self) -> bool:
        """The key opens admin routes: it has the admin scope and its owner is an admin."""
        return Scope.ADMIN in self.scopes and self.owner_role == Role.ADMIN

    def encode(self) -> bytes:
        return json.dumps(
            {
                "user_id": str(self.user_id),
                "email": self.email,
                "scopes": sorted(self.scopes),
                "secret_hash": self.secret_hash,
                "expires_at": None if self.expires_at is None else self.expires_at.isoformat(),
                "owner_role": self.owner_role,
            }
        ).encode()

    @classmethod
    def decode(cls, raw: bytes) -> KeyEntry:
        """The entry in `raw`; ValueError/KeyError/TypeError when malformed."""
        data = json.loads(raw)
        expires = data["expires_at"]
        return cls(
            user_id=uuid.UUID(data["user_id"]),
            email=str(data["email"]),
            scopes=frozenset(Scope(s) for s in data["scopes"]),
            secret_hash=str(data["secret_hash"]),
            expires_at=None if expires is None else dt.datetime.fromisoformat(expires),
            owner_role=Role(data.get("owner_role", Role.USER)),
        )

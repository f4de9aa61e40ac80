"""Service identity on every internal gRPC call: short-lived tokens signed per audience.

    signer = ServiceSigner.from_file("gateway", Path("gateway.key"))
    token = signer.token_for("tasks")            # cached; renewed well before it expires
    verifier = ServiceVerifier.from_dir("tasks", Path("service-keys"))
    caller = verifier.verify(token)              # "gateway", or ServiceTokenRefused

Each service holds its own Ed25519 private key; a server holds the public keys of the services
that may call it (`<service>.pub` files, each with one or more PEM keys, so a rotation publishes
the new key next to the old one before the caller switches). A token is a JWT (EdDSA) naming its
issuer (the calling service), its audience (the called service), and a lifetime of minutes: a
token sent to the tasks service is refused by the auth service, and a copied token stops working
soon. Why tokens and not mTLS: a missing or foreign credential is answered per call with
UNAUTHENTICATED and a message (a TLS handshake failure is an opaque UNAVAILABLE), health probes
stay on the same plaintext port, and there is no certificate expiry to outage on. What tokens do
not give is encryption: README.md ("Security") says what that leaves open.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

__all__ = [
    "TOKEN_TTL_SECONDS",
    "ServiceSigner",
    "ServiceTokenRefused",
    "ServiceVerifier",
    "generate_key",
    "key_id",
    "public_pem",
    "public_pem_for",
]

ALGORITHM = "EdDSA"
TOKEN_TTL_SECONDS = 300
# A cached token is replaced this long before it expires, so one in flight never arrives stale.
RENEW_BEFORE_SECONDS = 120
# Clocks of two hosts may disagree a little.
LEEWAY_SECONDS = 30
TOKEN_TYPE = "vr-service"
_NAME = re.compile(r"^[a-z][a-z0-9-]{0,30}$")
_PEM = re.compile(rb"-----BEGIN PUBLIC KEY-----.+?-----END PUBLIC KEY-----", re.DOTALL)
_VERIFIED_CACHE_MAX = 1024


class ServiceTokenRefused(Exception):
    """A token that does not prove a known caller; the message says why (safe to return)."""


def key_id(public_key: Ed25519PublicKey) -> str:
    """A short thumbprint of a public key: names it in token headers and logs."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.urlsafe_b64encode(hashlib.sha256(raw).digest()[:12]).decode().rstrip("=")


def public_pem(key: Ed25519PrivateKey | Ed25519PublicKey) -> bytes:
    """The public half as PEM (SubjectPublicKeyInfo)."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def public_pem_for(private_pem: bytes) -> bytes:
    """The public key (PEM) of an Ed25519 private key given as PEM."""
    key = serialization.load_pem_private_key(private_pem, password=None)
    if not isinstance(key, Ed25519PrivateKey):
        msg = "not an Ed25519 private key"
        raise TypeError(msg)
    return public_pem(key)


def generate_key() -> bytes:
    """A new Ed25519 private key as PEM (PKCS#8)."""
    return Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


class ServiceSigner:
    """Signs this service's tokens, one cached per audience."""

    def __init__(
        self, name: str, key: Ed25519PrivateKey, clock: Callable[[], float] = time.time
    ) -> None:
        self.name = name
        self._key = key
        self._kid = key_id(key.public_key())
        self._clock = clock
        self._cache: dict[str, tuple[str, float]] = {}

    @classmethod
    def from_file(cls, name: str, path: Path) -> ServiceSigner:
        """Load the service's private key (PEM, Ed25519); refuses a file others can read."""
        if path.stat().st_mode & 0o077 and os.geteuid() == path.stat().st_uid:
            msg = f"{path} is readable by other users; chmod 600 it"
            raise PermissionError(msg)
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            msg = f"{path} is not an Ed25519 private key"
            raise TypeError(msg)
        return cls(name, key)

    def token_for(self, audience: str) -> str:
        """A token for calls to `audience`, valid for minutes."""
        now = self._clock()
        cached = self._cache.get(audience)
        if cached is not None and cached[1] - now > RENEW_BEFORE_SECONDS:
            return cached[0]
        expires = now + TOKEN_TTL_SECONDS
        claims = {
            "iss": self.name,
            "aud": audience,
            "iat": int(now),
            "exp": int(expires),
            "typ": TOKEN_TYPE,
        }
        token = jwt.encode(claims, self._key, algorithm=ALGORITHM, headers={"kid": self._kid})
        self._cache[audience] = (token, expires)
        return token


@dataclass(frozen=True, slots=True)
class _Known:
    service: str
    expires: float


class ServiceVerifier:
    """Checks that a token was signed by a known service for this one (`audience`)."""

    def __init__(
        self,
        audience: str,
        keys: Mapping[str, tuple[str, Ed25519PublicKey]],
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`keys`: key id → (the service holding it, its public key)."""
        self.audience = audience
        self._keys = dict(keys)
        self._clock = clock
        self._verified: dict[str, _Known] = {}

    @classmethod
    def from_dir(cls, audience: str, directory: Path) -> ServiceVerifier:
        """Trust the keys in `<directory>/<service>.pub` (a file may hold several PEM keys)."""
        keys: dict[str, tuple[str, Ed25519PublicKey]] = {}
        for path in sorted(directory.glob("*.pub")):
            service = path.stem
            if not _NAME.match(service):
                continue
            for block in _PEM.findall(path.read_bytes()):
                key = serialization.load_pem_public_key(block)
                if not isinstance(key, Ed25519PublicKey):
                    msg = f"{path}: not an Ed25519 public key"
                    raise TypeError(msg)
                keys[key_id(key)] = (service, key)
        if not keys:
            msg = f"no service public keys (<service>.pub) in {directory}"
            raise FileNotFoundError(msg)
        return cls(audience, keys)

    @property
    def services(self) -> frozenset[str]:
        """The services whose keys are trusted."""
        return frozenset(service for service, _ in self._keys.values())

    def verify(self, token: str) -> str:
        """The calling service's name; ServiceTokenRefused when the token proves nothing."""
        now = self._clock()
        known = self._verified.get(token)
        if known is not None:
            if known.expires + LEEWAY_SECONDS > now:
                return known.service
            del self._verified[token]
        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.PyJWTError:
            raise ServiceTokenRefused("the service token is malformed") from None
        entry = self._keys.get(kid) if isinstance(kid, str) else None
        if entry is None:
            raise ServiceTokenRefused("the service token is signed by an unknown key")
        service, key = entry
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                audience=self.audience,
                issuer=service,
                leeway=LEEWAY_SECONDS,
                options={"require": ["iss", "aud", "exp", "iat"]},
            )
        except jwt.InvalidAudienceError:
            raise ServiceTokenRefused(
                f"the service token is for another service, not {self.audience}"
            ) from None
        except jwt.ExpiredSignatureError:
            raise ServiceTokenRefused("the service token has expired") from None
        except jwt.PyJWTError as exc:
            raise ServiceTokenRefused(f"the service token is invalid: {exc}") from None
        if claims.get("typ") != TOKEN_TYPE:
            raise ServiceTokenRefused("not a service token")
        if claims["iat"] > now + LEEWAY_SECONDS:
            raise ServiceTokenRefused("the service token is issued in the future")
        if len(self._verified) >= _VERIFIED_CACHE_MAX:
            self._verified.clear()  # callers renew every few minutes: a rebuild is cheap
        self._verified[token] = _Known(service, float(claims["exp"]))
        return service

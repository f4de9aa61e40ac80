"""The credentials of one deployment, generated where missing: nothing secret ships in the repo.

    creds = Credentials.ensure(Path(".data/secrets"))
    creds.service_key("gateway")      # Ed25519 key signing the gateway's gRPC calls (0600)
    creds.public_keys_dir             # <service>.pub of every service, what servers trust
    creds.nats_seed("executor")       # the executor's NATS user (nkey seed, 0600)
    creds.database_password("voidrunner_tasks")

`make run` keeps them in its data directory, the test fixtures in a temporary one, `make up` in
`.secrets/` (git-ignored) and `make k8s-dev-secrets` under the dev overlay (git-ignored). A file
that exists is never rewritten, so restarting keeps every identity; deleting one rotates it.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import nkeys

from voidrunner.common.service_tokens import generate_key, public_pem_for
from voidrunner.contracts.identities import DATABASE_OWNERS, ServiceName, database_role

SERVICES = tuple(ServiceName)


@dataclass(frozen=True)
class Credentials:
    """The files under `root`; `ensure` creates what is missing."""

    root: Path

    @classmethod
    def ensure(cls, root: Path) -> Credentials:
        """Generate every missing credential under `root` (directories 0700, secrets 0600)."""
        creds = cls(root)
        for service in SERVICES:
            key = creds.service_key(service)
            if not key.exists():
                _write_secret(key, generate_key())
            pub = creds.public_keys_dir / f"{service}.pub"
            if not pub.exists():
                write_file(pub, public_pem_for(key.read_bytes()), 0o644)
            seed = creds.nats_seed(service)
            if not seed.exists():
                _write_secret(seed, nkeys.encode_seed(os.urandom(32), nkeys.PREFIX_BYTE_USER))
        for role in [database_role(s) for s in DATABASE_OWNERS]:
            path = creds.root / "database" / f"{role}.password"
            if not path.exists():
                _write_secret(path, secrets.token_urlsafe(24).encode())
        return creds

    def identity(self, service: str) -> dict[str, Any]:
        """The settings that make a process `service`: the key signing its gRPC calls, the
        public keys it trusts, its NATS user."""
        return {
            "service_key_file": self.service_key(service),
            "service_keys_dir": self.public_keys_dir,
            "nats_seed_file": self.nats_seed(service),
        }

    def environment(self, service: str) -> dict[str, str]:
        """`identity` as a service process's environment."""
        return {f"VOIDRUNNER_{k.upper()}": str(v) for k, v in self.identity(service).items()}

    def service_key(self, service: str) -> Path:
        """The private key signing `service`'s gRPC calls."""
        return self.root / "service-keys-private" / f"{service}.key"

    @property
    def public_keys_dir(self) -> Path:
        """Every service's public key (<service>.pub): what gRPC servers trust."""
        return self.root / "service-keys"

    def nats_seed(self, service: str) -> Path:
        """The nkey seed of `service`'s NATS user."""
        return self.root / "nats" / f"{service}.nk"

    def nats_user(self, service: str) -> str:
        """The public nkey of `service`'s NATS user (what the server configuration names)."""
        pair = nkeys.from_seed(bytearray(self.nats_seed(service).read_bytes().strip()))
        try:
            return bytes(pair.public_key).decode()
        finally:
            pair.wipe()

    def database_password(self, role: str) -> str:
        """The password of PostgreSQL role `role`."""
        return (self.root / "database" / f"{role}.password").read_text().strip()

    def database_url(self, admin_url: str, service: str) -> str:
        """`admin_url` (same server and database) as `service`'s own role."""
        role = database_role(ServiceName(service))
        parts = urlsplit(admin_url)
        host = parts.hostname or ""
        netloc = f"{role}:{quote(self.database_password(role), safe='')}@{host}"
        if parts.port:
            netloc += f":{parts.port}"
        return urlunsplit(parts._replace(netloc=netloc))


def _write_secret(path: Path, data: bytes) -> None:
    write_file(path, data, 0o600)


def write_file(path: Path, data: bytes, mode: int) -> None:
    """Write `path` atomically with `mode` (its directories 0700)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(tmp, mode)
    tmp.replace(path)

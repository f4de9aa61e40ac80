"""Secrets of a compose or Kubernetes deployment, generated on first use: none ship in the repo.

    python -m voidrunner.devstack secrets compose        # .env (0600) and .secrets/ (make up)
    python -m voidrunner.devstack secrets k8s [--dir D]   # Kubernetes Secrets' files (dev overlay)

What exists is kept, so running it again (every `make up` does) changes nothing; deleting a value
or a file rotates it. The compose stack reads the passwords and the signing key from `.env` and
mounts each service's own files from `.secrets/`.
"""

from __future__ import annotations

import base64
import io
import json
import re
import secrets
from collections.abc import Callable
from pathlib import Path

from dotenv import dotenv_values

from voidrunner.common.service_tokens import generate_key
from voidrunner.contracts.identities import DATABASE_OWNERS
from voidrunner.devstack.credentials import Credentials, write_file
from voidrunner.devstack.nats_config import ACCOUNT, render, users

__all__ = ["compose_secrets", "k8s_secrets"]

_LINE = re.compile(r"^([A-Z_][A-Z0-9_]*)=(.*)$")


def sealing_key() -> str:
    """A new key for the tasks service's sealed webhook secrets (base64 of 32 random bytes)."""
    return base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def kept_sealing_key(path: Path) -> str:
    """The sealing key in `path`, made there (0600) the first time: secrets sealed under it
    must keep opening across restarts."""
    if not path.exists():
        write_file(path, sealing_key().encode(), 0o600)
    return path.read_text().strip()


def compose_secrets(env_file: Path, example: Path, secrets_dir: Path) -> list[str]:
    """Fill `env_file` (created from `example`) with every missing secret and generate the
    per-service files under `secrets_dir`; the names of the values it added."""
    _service_files(secrets_dir)
    # The containers run as uid 10001 and see each file (and the public keys' directory) through
    # its own bind mount, which the host's directories above it do not guard: what is mounted is
    # readable, and secrets_dir itself (0700) keeps other host users out.
    for path in secrets_dir.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    text = env_file.read_text() if env_file.exists() else example.read_text()
    wanted: dict[str, Callable[[], str]] = {
        "POSTGRES_PASSWORD": lambda: secrets.token_urlsafe(24),
        "AUTH_SIGNING_KEY": lambda: _one_line(generate_key().decode()),
        "AUTH_DATABASE_PASSWORD": lambda: secrets.token_urlsafe(24),
        "TASKS_DATABASE_PASSWORD": lambda: secrets.token_urlsafe(24),
        "WEBHOOK_SECRET_KEY": sealing_key,
        "SECRETS_DIR": lambda: str(secrets_dir.resolve()),
    }
    values = dotenv_values(stream=io.StringIO(text))
    added = [name for name in wanted if not values.get(name)]
    lines = [line for line in text.splitlines() if _name(line) not in added]
    lines += [f"{name}={_quoted(wanted[name]())}" for name in added]
    write_file(env_file, ("\n".join(lines) + "\n").encode(), 0o600)
    return added


def k8s_secrets(directory: Path) -> None:
    """The files the Kubernetes Secrets are made of (kept when present): the dev overlay's
    secretGenerator reads them; for production, load them into your secret store.

    credentials/          every service's gRPC key and NATS seed, public keys (service-keys)
    accounts.conf         the NATS users and their permissions (Secret nats-accounts)
    signing-key.pem       the auth service's token key
    webhook-secret-key    seals users' webhook signing secrets at rest (tasks)
    postgres-password, admin-database-url, <service>-database-url   the in-cluster database
                          (dev overlay; each service's URL names its own role)
    """
    creds = _service_files(directory / "credentials")
    accounts = {ACCOUNT: {"jetstream": "enabled", "users": users(creds)}}
    # NATS includes a fragment, not a document: a key and its (JSON) value.
    text = "accounts: " + json.dumps(accounts, indent=2) + "\n"
    write_file(directory / "accounts.conf", text.encode(), 0o600)
    password = directory / "postgres-password"
    if not password.exists():
        write_file(password, secrets.token_urlsafe(24).encode(), 0o600)
    admin = f"postgresql://voidrunner:{password.read_text().strip()}@postgres:5432/voidrunner"
    write_file(directory / "admin-database-url", admin.encode(), 0o600)
    for service in DATABASE_OWNERS:
        url = creds.database_url(admin, service)  # its own role (the init container provisions it)
        write_file(directory / f"{service}-database-url", url.encode(), 0o600)
    signing = directory / "signing-key.pem"
    if not signing.exists():
        write_file(signing, generate_key(), 0o600)
    kept_sealing_key(directory / "webhook-secret-key")


def _service_files(root: Path) -> Credentials:
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    root.chmod(0o700)
    creds = Credentials.ensure(root)
    # The server configuration names only public nkeys; NATS reads it from a mounted file.
    write_file(root / "nats.conf", render(creds, store_dir="/data").encode(), 0o644)
    return creds


def _name(line: str) -> str | None:
    m = _LINE.match(line.strip())
    return m.group(1) if m else None


def _one_line(pem: str) -> str:
    # docker compose reads "\n" inside double quotes of .env as a newline.
    return pem.strip().replace("\n", "\\n") + "\\n"


def _quoted(value: str) -> str:
    return f'"{value}"'

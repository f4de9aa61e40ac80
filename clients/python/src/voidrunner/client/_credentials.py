"""Signed-in state: a password session's tokens, or an API key, kept in a 0600 JSON file.

Refresh tokens rotate and a used one revokes its whole family, so two processes sharing the
file must never both spend the same refresh token. Whoever refreshes holds an exclusive fcntl
lock on the file, re-reads it first, and only calls the gateway when the file still holds the
token it had: otherwise another process refreshed already, and its new tokens are adopted.
Readers take a shared lock, so they never see a half-written file.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from pydantic import BaseModel, ValidationError

from voidrunner.client._errors import ConfigError

# Refresh this long before the access token expires, so a request never carries one that dies
# on the way.
EARLY_SECONDS = 30.0


class Credentials(BaseModel):
    """What a signed-in client holds: an API key, or a session's access and refresh token."""

    url: str | None = None
    api_key: str | None = None
    access_token: str | None = None
    refresh_token: str | None = None
    expires_at: dt.datetime | None = None
    email: str | None = None

    def bearer(self) -> str | None:
        """The token to send."""
        return self.api_key or self.access_token

    def stale(self, now: dt.datetime | None = None) -> bool:
        """True when a session's access token expired or is about to."""
        if self.api_key or self.expires_at is None or not self.refresh_token:
            return False
        now = now or dt.datetime.now(dt.UTC)
        return (self.expires_at - now).total_seconds() < EARLY_SECONDS


def check_private(path: Path) -> None:
    """Refuse a credentials file others can read: its tokens are as good as a password."""
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(
            f"{path} is readable by other users (mode {stat.S_IMODE(mode):o}); "
            f"run: chmod 600 {path}"
        )


class CredentialsFile:
    """A credentials file, read and written under fcntl locks."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def exists(self) -> bool:
        """True when the file is there."""
        return self.path.exists()

    def load(self) -> Credentials | None:
        """The credentials in the file (None when there is no file)."""
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return None
        with os.fdopen(fd, "rb") as f:
            check_private(self.path)
            fcntl.flock(f, fcntl.LOCK_SH)
            return self._parse(f.read())

    def save(self, creds: Credentials) -> None:
        """Write `creds` (creating the file 0600, and its directory 0700)."""
        with self.locked() as locked:
            locked.write(creds)

    def delete(self) -> None:
        """Forget the credentials."""
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    @contextlib.contextmanager
    def locked(self) -> Iterator[_Locked]:
        """The file opened and exclusively locked until the block ends."""
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        with os.fdopen(fd, "r+b") as f:
            check_private(self.path)
            fcntl.flock(f, fcntl.LOCK_EX)
            yield _Locked(self, f)

    def _parse(self, raw: bytes) -> Credentials | None:
        if not raw.strip():
            return None
        try:
            return Credentials.model_validate(json.loads(raw))
        except (ValueError, ValidationError):
            raise ConfigError(f"{self.path} is not a valid credentials file") from None

    def _write(self, f: BinaryIO, creds: Credentials) -> None:
        data = creds.model_dump_json(exclude_none=True, indent=2).encode()
        # In place, not a rename: the lock is on this inode, and other processes wait on it.
        f.seek(0)
        f.truncate()
        f.write(data + b"\n")
        f.flush()
        os.fsync(f.fileno())


class _Locked:
    """The locked file: read the current credentials, write new ones."""

    def __init__(self, owner: CredentialsFile, f: BinaryIO) -> None:
        self._owner = owner
        self._f = f

    def read(self) -> Credentials | None:
        """What the file holds now (another process may have changed it)."""
        self._f.seek(0)
        return self._owner._parse(self._f.read())

    def write(self, creds: Credentials) -> None:
        """Replace the file's credentials."""
        self._owner._write(self._f, creds)

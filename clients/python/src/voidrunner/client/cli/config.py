"""Where the CLI's settings come from: the XDG config dir, then VOIDRUNNER_URL / VOIDRUNNER_TOKEN.

The credentials file is `$XDG_CONFIG_HOME/voidrunner/credentials.json` (0600; a file others can
read is refused). VOIDRUNNER_TOKEN (an API key or an access token) wins over the file, as
VOIDRUNNER_URL wins over the URL stored at login.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from voidrunner.client import Client, ConfigError, Credentials, CredentialsFile

DEFAULT_URL = "http://localhost:8080"


@dataclass(frozen=True)
class Settings:
    """The CLI's settings, read once at start-up."""

    url: str | None
    token: str | None
    credentials_path: Path

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        """The settings this environment gives."""
        return cls(
            url=environ.get("VOIDRUNNER_URL") or None,
            token=environ.get("VOIDRUNNER_TOKEN") or None,
            credentials_path=platformdirs.user_config_path("voidrunner") / "credentials.json",
        )

    def client(self) -> Client:
        """A client signed in as the environment or the credentials file says."""
        stored = self.credentials_path if self.credentials_path.exists() else None
        if self.token:
            if self.url is None and stored is None:
                raise ConfigError("VOIDRUNNER_TOKEN is set but not VOIDRUNNER_URL")
            return Client(self.url, api_key=self.token, credentials_file=stored)
        if stored is None:
            raise ConfigError("not signed in: run `voidrunner login` (or set VOIDRUNNER_TOKEN)")
        return Client(self.url, credentials_file=stored)

    def save(self, creds: Credentials) -> None:
        """Store a new sign-in, replacing the old one (and whatever its permissions were)."""
        self.credentials_path.unlink(missing_ok=True)
        CredentialsFile(self.credentials_path).save(creds)

"""What the sync and async clients share: sign-in state, headers, retry rules, stream parsing."""

from __future__ import annotations

import datetime as dt
import json
import random
from pathlib import Path
from typing import Any

import httpx
from httpx_sse import ServerSentEvent

from voidrunner.client._credentials import Credentials, CredentialsFile
from voidrunner.client._errors import ConfigError
from voidrunner.client._models import AuthResponse, LogEvent
from voidrunner.client._ops import Op

RETRY_STATUSES = frozenset({429, 503})
DEFAULT_TIMEOUT = 30.0
# A log stream's server pings every 15 s: no byte for this long is a dead connection.
STREAM_READ_TIMEOUT = 45.0
USER_AGENT = "voidrunner-client/0.1"


def base_url_of(url: str | None) -> str:
    """The gateway's origin, checked."""
    if not url:
        raise ConfigError("no server URL: pass base_url or set VOIDRUNNER_URL")
    parsed = httpx.URL(url)
    if parsed.scheme not in {"http", "https"} or not parsed.host:
        raise ConfigError(f"not an http(s) URL: {url}")
    return url.rstrip("/")


def credentials_from_auth(
    auth: AuthResponse, url: str, now: dt.datetime | None = None
) -> Credentials:
    """A session's credentials from a sign-in or refresh answer."""
    now = now or dt.datetime.now(dt.UTC)
    return Credentials(
        url=url,
        access_token=auth.access_token,
        refresh_token=auth.refresh_token,
        expires_at=now + dt.timedelta(seconds=auth.expires_in),
        email=auth.user.email,
    )


class Core:
    """State and rules shared by `Client` and `AsyncClient`."""

    def __init__(
        self,
        base_url: str | None,
        *,
        api_key: str | None,
        token: str | None,
        credentials_file: Path | str | None,
        max_retries: int,
        max_retry_wait: float,
    ) -> None:
        self.file = CredentialsFile(Path(credentials_file)) if credentials_file else None
        stored = self.file.load() if self.file is not None else None
        if api_key or token:
            self.creds = Credentials(api_key=api_key, access_token=token)
        else:
            self.creds = stored or Credentials()
        self.base_url = base_url_of(base_url or (stored.url if stored else None))
        self.max_retries = max_retries
        self.max_retry_wait = max_retry_wait

    # sign-in state

    def headers_for(self, op: Op[Any]) -> dict[str, str]:
        """The headers of one request of `op` (its token, if it is sent with one)."""
        headers = {"User-Agent": USER_AGENT, **op.headers}
        if op.auth:
            bearer = self.creds.bearer()
            if bearer is None:
                raise ConfigError("not signed in: run `voidrunner login` or pass an API key")
            headers["Authorization"] = f"Bearer {bearer}"
        return headers

    def can_refresh(self) -> bool:
        """True for a password session (an API key or a bare token cannot be refreshed)."""
        return bool(self.creds.refresh_token) and not self.creds.api_key

    def signed_in(self, auth: AuthResponse) -> None:
        """Adopt a sign-in's tokens (and store them when there is a file)."""
        self.creds = credentials_from_auth(auth, self.base_url)
        if self.file is not None:
            self.file.save(self.creds)

    def signed_out(self) -> None:
        """Forget the tokens (and the file)."""
        self.creds = Credentials()
        if self.file is not None:
            self.file.delete()

    def adopt(self, stored: Credentials | None, spent: str | None) -> bool:
        """Under the file's lock: True when another process refreshed already (its new tokens
        are taken), False when `spent` is still the file's refresh token and is ours to use."""
        if stored is None or not stored.refresh_token or stored.refresh_token == spent:
            return False
        self.creds = stored
        return True

    # retries

    def retry_delay(self, response: httpx.Response | None, attempt: int) -> float | None:
        """Seconds to wait before retry `attempt` (1-based), or None to stop."""
        if attempt > self.max_retries:
            return None
        if response is not None:
            if response.status_code not in RETRY_STATUSES:
                return None
            after = _retry_after(response)
            if after is not None:
                if after > self.max_retry_wait:
                    return None  # longer than we are willing to wait: the caller decides
                return after
        # Exponential back-off with jitter when the server did not say how long.
        return min(self.max_retry_wait, 0.5 * 2.0 ** (attempt - 1)) * (0.5 + random.random() / 2)  # noqa: S311


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def log_event(sse: ServerSentEvent) -> LogEvent:
    """A log stream's event as a model (unknown payload fields kept in `extra`)."""
    try:
        payload = json.loads(sse.data) if sse.data else {}
    except ValueError:
        payload = {}
    if not isinstance(payload, dict):
        payload = {}
    known = set(LogEvent.model_fields)
    fields = {k: v for k, v in payload.items() if k in known and k not in {"event", "id", "extra"}}
    extra = {k: v for k, v in payload.items() if k not in known}
    return LogEvent.model_validate(
        {**fields, "event": sse.event or "message", "id": sse.id or "", "extra": extra}
    )

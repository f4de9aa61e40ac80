"""A nats-server configuration with one user per service, permitted what nats_access says.

    text = render(creds, store_dir=Path("/data/jetstream"))
    Path("nats.conf").write_text(text)

JSON is valid NATS configuration, so the file is rendered with json. All services share one
account (JetStream streams are per account, and they share the pipeline's); what separates them
is each user's publish and subscribe permissions. `open_user` (tests only) adds a user with every
permission that clients without credentials become (`no_auth_user`), so test code can inspect
streams while the services under test connect as themselves.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from voidrunner.contracts.identities import ServiceName
from voidrunner.contracts.nats_access import permissions
from voidrunner.devstack.credentials import Credentials

ACCOUNT = "VOIDRUNNER"
OPEN_USER = "open-test-user"


def users(creds: Credentials) -> list[dict[str, Any]]:
    """One nkey user per service with its permissions."""
    found = []
    for service in ServiceName:
        allowed = permissions(service)
        found.append(
            {
                "nkey": creds.nats_user(service),
                "permissions": {
                    "publish": {"allow": list(allowed.publish)},
                    "subscribe": {"allow": list(allowed.subscribe)},
                },
            }
        )
    return found


def render(
    creds: Credentials,
    *,
    store_dir: Path | str | None = None,
    open_user: bool = False,
    extra: dict[str, Any] | None = None,
) -> str:
    """The server configuration (JSON). `store_dir`: JetStream's storage (or the command line's
    -sd); `extra`: more top-level settings (listen address, monitoring port)."""
    account_users = users(creds)
    config: dict[str, Any] = {}
    if open_user:
        account_users.append({"user": OPEN_USER, "password": OPEN_USER})
        config["no_auth_user"] = OPEN_USER
    config["accounts"] = {ACCOUNT: {"jetstream": "enabled", "users": account_users}}
    config["jetstream"] = {"store_dir": str(store_dir)} if store_dir is not None else {}
    config.update(extra or {})
    return json.dumps(config, indent=2) + "\n"

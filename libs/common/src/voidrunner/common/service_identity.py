"""A service's identity from its settings: the signer of its calls, the policy of its server,
its NATS user."""

from __future__ import annotations

from collections.abc import Mapping

from voidrunner.common.grpc_access import AccessPolicy
from voidrunner.common.nats_client import NatsConnection
from voidrunner.common.service_tokens import ServiceSigner, ServiceVerifier
from voidrunner.common.settings import BaseServiceSettings, require_path


def signer_from(settings: BaseServiceSettings, name: str) -> ServiceSigner:
    """The signer of the calls of service `name` (a contracts.identities.ServiceName)."""
    path = require_path(settings, "service_key_file", "signs its calls to other services with it")
    return ServiceSigner.from_file(name, path)


def access_from(
    settings: BaseServiceSettings, name: str, rules: Mapping[str, frozenset[str]]
) -> AccessPolicy:
    """The access policy of the gRPC server of service `name`: its callers' keys and `rules`."""
    directory = require_path(
        settings, "service_keys_dir", "checks who calls it against the public keys there"
    )
    return AccessPolicy(ServiceVerifier.from_dir(name, directory), rules)


def nats_for(
    settings: BaseServiceSettings, url: str, *, client_name: str, inbox_prefix: str
) -> NatsConnection:
    """The service's NATS connection, as its own NATS user with its own inbox prefix
    (contracts.identities.inbox_prefix); `client_name` is what NATS's monitoring shows.

    Production refuses to connect without the user's seed; development and tests may use a
    server without authentication.
    """
    seed = settings.nats_seed_file
    if settings.is_production:
        seed = require_path(settings, "nats_seed_file", "connects to NATS as its own user")
    return NatsConnection(url, name=client_name, seed_file=seed, inbox_prefix=inbox_prefix)

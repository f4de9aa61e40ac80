"""Who may call which RPC: the caller's service token, checked against a table per method.

    access = AccessPolicy(verifier, {"/voidrunner.tasks.v1.TasksService/ListOverdueExecutions":
                                     frozenset({"scheduler"}), ...})
    GrpcServer(..., access=access)

Every call but health (probes carry no credentials) must carry `authorization: Bearer <token>`
(see service_tokens): none or an invalid one is UNAUTHENTICATED; a known service calling a method
its table does not give it is PERMISSION_DENIED. A method missing from the table is refused to
everyone, so a new RPC is closed until someone decides who may call it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import grpc

from voidrunner.common.service_tokens import ServiceTokenRefused, ServiceVerifier

__all__ = ["AUTHORIZATION_HEADER", "AccessPolicy", "Refusal", "bearer"]

AUTHORIZATION_HEADER = "authorization"
# Open to every caller, with or without a token: what probes and load balancers ask.
OPEN_PREFIXES = ("/grpc.health.v1.Health/",)
# Open to every authenticated service: reading the schema is no action.
ANY_SERVICE_PREFIXES = ("/grpc.reflection.",)


def bearer(token: str) -> tuple[str, str]:
    """The metadata entry that carries a service token."""
    return (AUTHORIZATION_HEADER, f"Bearer {token}")


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a call is refused, as the status and message the caller gets."""

    code: grpc.StatusCode
    message: str
    caller: str | None = None


@dataclass(frozen=True)
class AccessPolicy:
    """The server's verifier and its table: method → the services that may call it."""

    verifier: ServiceVerifier
    rules: Mapping[str, frozenset[str]]

    def check(
        self, method: str, metadata: Iterable[tuple[str, str | bytes]] | None
    ) -> tuple[str | None, Refusal | None]:
        """(the caller, None) when the call may go ahead, else (the caller if known, why not)."""
        if method.startswith(OPEN_PREFIXES):
            return None, None
        token = _token(metadata)
        if token is None:
            return None, Refusal(
                grpc.StatusCode.UNAUTHENTICATED,
                "a service token is required (authorization: Bearer <token>)",
            )
        try:
            caller = self.verifier.verify(token)
        except ServiceTokenRefused as exc:
            return None, Refusal(grpc.StatusCode.UNAUTHENTICATED, str(exc))
        if method.startswith(ANY_SERVICE_PREFIXES):
            return caller, None
        if caller not in self.rules.get(method, frozenset()):
            return caller, Refusal(
                grpc.StatusCode.PERMISSION_DENIED,
                f"{caller} may not call {method.rsplit('/', 1)[-1]}",
                caller,
            )
        return caller, None


def _token(metadata: Iterable[tuple[str, str | bytes]] | None) -> str | None:
    for key, value in metadata or ():
        if key == AUTHORIZATION_HEADER:
            text = value.decode("ascii", "replace") if isinstance(value, bytes) else value
            scheme, _, token = text.partition(" ")
            if scheme.lower() == "bearer" and token:
                return token.strip()
    return None

"""Who is who inside the perimeter: one name per service, used by every hop.

The same name is a service's TLS identity (its certificate's common name and DNS name), its NATS
user (and inbox prefix) and its PostgreSQL role, so an operator reads one vocabulary in
certificates, NATS permissions, database grants and the refusal logs.
"""

from __future__ import annotations

import enum


class ServiceName(enum.StrEnum):
    """A VoidRunner process kind."""

    GATEWAY = "gateway"
    AUTH = "auth"
    TASKS = "tasks"
    SCHEDULER = "scheduler"
    EXECUTOR = "executor"


# Services that own PostgreSQL tables: each connects as its own role (voidrunner_<name>).
DATABASE_OWNERS = (ServiceName.AUTH, ServiceName.TASKS)


def database_role(service: ServiceName) -> str:
    """The PostgreSQL role a service connects as."""
    return f"voidrunner_{service.value}"


def inbox_prefix(service: ServiceName) -> str:
    """Where a service's request replies arrive; no other service may read them."""
    return f"_INBOX_{service.value}"

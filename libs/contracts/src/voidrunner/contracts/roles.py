"""Who a caller is to the platform: the `role` claim of an access token, the users table's role."""

from __future__ import annotations

import enum


class Role(enum.StrEnum):
    """A user is `user` or `admin` (the operator grants it); `service` is an internal caller."""

    USER = "user"
    ADMIN = "admin"
    SERVICE = "service"


# Roles that may act on any user's executions and read the operator's figures.
PRIVILEGED_ROLES = frozenset({Role.ADMIN, Role.SERVICE})

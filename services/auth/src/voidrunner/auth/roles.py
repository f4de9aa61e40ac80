"""Making a user an admin and back: the operator's `python -m voidrunner.auth admin grant|revoke`.

The role lives in PostgreSQL; access tokens carry it in their `role` claim. A grant takes effect
with the user's next sign-in or token refresh (an access token lives minutes). A revocation must
not wait for that: it also revokes every session of the user (gateways refuse their tokens as
soon as the revoked-sessions bucket says so) and republishes the user's API keys with the new
role, so an `admin` key stops opening admin routes. When NATS cannot be reached, the database
change stands and the auth service's revocation sync publishes the sessions within its period;
the keys follow at its next rebuild.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import asyncpg

from voidrunner.auth.api_keys import ApiKeyService
from voidrunner.auth.key_bucket import KvKeys
from voidrunner.auth.repository import AuthRepository
from voidrunner.auth.revocation import REVOCATION_MARGIN, KvRevocations
from voidrunner.auth.schema import QUERIES_FILE
from voidrunner.auth.settings import AuthSettings
from voidrunner.common.db import Queries
from voidrunner.common.errors import NotFound
from voidrunner.common.service_identity import nats_for
from voidrunner.contracts.identities import ServiceName, inbox_prefix
from voidrunner.contracts.roles import Role
from voidrunner.contracts.topology import API_KEYS_BUCKET, REVOKED_SESSIONS_BUCKET


@dataclass(frozen=True, slots=True)
class RoleChange:
    """What a role change did."""

    email: str
    role: Role
    sessions_revoked: int
    keys_republished: int
    # False: NATS was unreachable; the auth service publishes the change later (module doc).
    published: bool


async def change_role(settings: AuthSettings, email: str, role: Role) -> RoleChange:
    """Give the user with `email` the `role` (user or admin); NotFound when there is none."""
    if role not in (Role.USER, Role.ADMIN):
        raise ValueError(f"a user's role is user or admin, not {role}")
    repo = AuthRepository(Queries(QUERIES_FILE))
    # One connection serves the change and the republishing of the user's keys.
    pool = await asyncpg.create_pool(
        settings.database_url.get_secret_value(), min_size=1, max_size=1
    )
    try:
        async with pool.acquire() as conn, conn.transaction():
            user_id = await repo.set_user_role(conn, email, role)
            if user_id is None:
                raise NotFound(f"no user has the email {email}")
            revoked = (
                await repo.revoke_user_sessions(conn, user_id, "admin role revoked")
                if role == Role.USER
                else []
            )
        nats = nats_for(
            settings,
            settings.nats_url,
            client_name="voidrunner-auth-admin",
            inbox_prefix=inbox_prefix(ServiceName.AUTH),
        )
        try:
            nc = await nats.connect_once()
        except ConnectionError:
            return RoleChange(email, role, len(revoked), 0, published=False)
        try:
            ttl = dt.timedelta(seconds=settings.access_token_ttl_seconds) + REVOCATION_MARGIN
            sessions = KvRevocations(nc, REVOKED_SESSIONS_BUCKET, ttl)
            for session_id, at in revoked:
                await sessions.publish(session_id, at)
            keys = ApiKeyService(pool, repo, KvKeys(nc, API_KEYS_BUCKET))
            republished = await keys.republish_user(user_id)
        finally:
            await nc.close()
    finally:
        await pool.close()
    return RoleChange(email, role, len(revoked), republished, published=True)

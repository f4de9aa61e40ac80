"""The auth service's composition root: settings → pool, NATS, keys → servicer → gRPC server."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt

import asyncpg
from nats.aio.client import Client as NATS

from voidrunner.auth.keys import SigningKey
from voidrunner.auth.passwords import Passwords
from voidrunner.auth.repository import AuthRepository
from voidrunner.auth.revocation import KvRevocations, RevocationSync
from voidrunner.auth.schema import QUERIES_FILE
from voidrunner.auth.service import AuthService
from voidrunner.auth.servicer import AuthServicer
from voidrunner.auth.settings import AuthSettings
from voidrunner.common.db import Queries, create_pool
from voidrunner.common.grpc_server import GrpcServer
from voidrunner.common.nats_client import connect_nats, drain_nats
from voidrunner.proto.auth.v1 import auth_pb2, auth_pb2_grpc

# Revocations outlive the longest access token by this margin (clock skew, slow gateways).
REVOCATION_MARGIN = dt.timedelta(seconds=60)


def load_signing_key(settings: AuthSettings) -> SigningKey:
    """The key from the secret when set; otherwise (development, test) the generated key file."""
    pem = settings.auth_signing_key.get_secret_value()
    if pem:
        return SigningKey.from_pem(pem)
    return SigningKey.load_or_create(settings.auth_key_file)


class AuthApp:
    """Everything the auth process runs; `start()` returns the bound gRPC port."""

    def __init__(self, settings: AuthSettings) -> None:
        self.settings = settings
        self._pool: asyncpg.Pool | None = None
        self._nc: NATS | None = None
        self._server: GrpcServer | None = None
        self._stop = asyncio.Event()
        self._sync_task: asyncio.Task[None] | None = None

    async def start(self) -> int:
        s = self.settings
        key = load_signing_key(s)
        self._pool = await create_pool(s.database_url.get_secret_value())
        self._nc = await connect_nats(s.nats_url, name="voidrunner-auth")
        access_ttl = dt.timedelta(seconds=s.access_token_ttl_seconds)
        revocations = KvRevocations(self._nc, s.revocation_bucket, access_ttl + REVOCATION_MARGIN)
        await revocations.ensure_bucket()
        from voidrunner.auth.tokens import TokenIssuer

        service = AuthService(
            self._pool,
            AuthRepository(Queries(QUERIES_FILE)),
            Passwords(
                time_cost=s.argon2_time_cost,
                memory_kib=s.argon2_memory_kib,
                parallelism=s.argon2_parallelism,
            ),
            TokenIssuer(
                key,
                issuer=s.token_issuer,
                audience=s.token_audience,
                access_ttl=access_ttl,
                refresh_ttl=dt.timedelta(seconds=s.refresh_token_ttl_seconds),
            ),
            revocations,
        )
        servicer = AuthServicer(service, key, s.token_issuer, s.token_audience, s.revocation_bucket)
        sync = RevocationSync(
            revocations,
            service.revoked_since,
            access_ttl + REVOCATION_MARGIN,
            s.revocation_sync_seconds,
        )
        self._sync_task = asyncio.create_task(sync.run(self._stop), name="revocation-sync")
        self._server = GrpcServer(
            host=s.auth_grpc_host,
            port=s.auth_grpc_port,
            registrations=[
                lambda srv: auth_pb2_grpc.add_AuthServiceServicer_to_server(servicer, srv)
            ],
            service_names=[auth_pb2.DESCRIPTOR.services_by_name["AuthService"].full_name],
        )
        return await self._server.start()

    async def stop(self) -> None:
        """Drain RPCs, stop background work, close NATS and the pool."""
        self._stop.set()
        if self._server is not None:
            await self._server.stop(self.settings.shutdown_grace_seconds)
        if self._sync_task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._sync_task
        if self._nc is not None:
            await drain_nats(self._nc)
        if self._pool is not None:
            await self._pool.close()

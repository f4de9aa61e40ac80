"""The auth service's composition root: settings → pool, NATS, keys → servicer → gRPC server.

The revocation re-publisher and the NATS connection run under one supervisor: the service starts
while NATS is away (logins work; revocations reach gateways once NATS is back, from PostgreSQL)
and reports NOT_SERVING on grpc.health.v1 meanwhile (and while any loop is down).
"""

from __future__ import annotations

import asyncio
import datetime as dt

import asyncpg

from voidrunner.auth import access
from voidrunner.auth.api_keys import ApiKeyService
from voidrunner.auth.key_bucket import KvKeys
from voidrunner.auth.keys import SigningKey
from voidrunner.auth.passwords import Passwords
from voidrunner.auth.repository import AuthRepository
from voidrunner.auth.revocation import REVOCATION_MARGIN, KvRevocations, RevocationSync
from voidrunner.auth.schema import QUERIES_FILE
from voidrunner.auth.service import AuthService
from voidrunner.auth.servicer import AuthServicer
from voidrunner.auth.settings import AuthSettings
from voidrunner.common.db import Queries, create_pool
from voidrunner.common.grpc_server import GrpcServer
from voidrunner.common.metrics_endpoint import MetricsEndpoint
from voidrunner.common.service_identity import access_from, nats_for
from voidrunner.common.supervision import Loop, supervisor_for
from voidrunner.common.tracing import Tracing
from voidrunner.contracts.identities import ServiceName, inbox_prefix
from voidrunner.contracts.topology import API_KEYS_BUCKET, REVOKED_SESSIONS_BUCKET
from voidrunner.proto.auth.v1 import auth_pb2, auth_pb2_grpc

# Revocations outlive the longest access token by this margin (clock skew, slow gateways).


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
        self.loops = supervisor_for(settings)
        self._nats = nats_for(
            settings,
            settings.nats_url,
            client_name="voidrunner-auth",
            inbox_prefix=inbox_prefix(ServiceName.AUTH),
        )
        self._pool: asyncpg.Pool | None = None
        self._server: GrpcServer | None = None
        self._revocations: KvRevocations | None = None
        self._sync: RevocationSync | None = None
        self._keys: KvKeys | None = None
        self._api_keys: ApiKeyService | None = None
        self.metrics = MetricsEndpoint(settings.metrics_host, settings.metrics_port)
        self.tracing = Tracing.configure(settings)

    async def start(self) -> int:
        self.metrics.start()
        s = self.settings
        key = load_signing_key(s)
        self._pool = await create_pool(s.database_url.get_secret_value())
        access_ttl = dt.timedelta(seconds=s.access_token_ttl_seconds)
        revocations = KvRevocations(
            self._nats.client, REVOKED_SESSIONS_BUCKET, access_ttl + REVOCATION_MARGIN
        )
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
        self._keys = KvKeys(self._nats.client, API_KEYS_BUCKET)
        self._api_keys = ApiKeyService(
            self._pool, AuthRepository(Queries(QUERIES_FILE)), self._keys, revocations=revocations
        )
        servicer = AuthServicer(
            service,
            self._api_keys,
            key,
            s.token_issuer,
            s.token_audience,
            REVOKED_SESSIONS_BUCKET,
            API_KEYS_BUCKET,
        )
        self._revocations = revocations
        self._sync = RevocationSync(
            revocations,
            service.revoked_since,
            access_ttl + REVOCATION_MARGIN,
            s.revocation_sync_seconds,
        )
        self.loops.add("nats", self._nats.run, signals_ready=True)
        self.loops.add("revocation_sync", self._republish, signals_ready=True)
        self.loops.add("api_key_bucket", self._rebuild_keys, signals_ready=True)
        self.loops.start()
        self._server = GrpcServer(
            host=s.auth_grpc_host,
            port=s.auth_grpc_port,
            registrations=[
                lambda srv: auth_pb2_grpc.add_AuthServiceServicer_to_server(servicer, srv)
            ],
            service_names=[auth_pb2.DESCRIPTOR.services_by_name["AuthService"].full_name],
            health=self.loops,
            access=access_from(s, ServiceName.AUTH, access.RULES),
            tracing=self.tracing,
        )
        return await self._server.start()

    async def _republish(self, loop: Loop) -> None:
        assert self._revocations is not None
        assert self._sync is not None
        await self._nats.connected()
        # Created before the first logout, so that gateways can start watching it.
        await self._revocations.ensure_bucket()
        loop.ready()
        await self._sync.run(loop.stop)

    async def _rebuild_keys(self, loop: Loop) -> None:
        assert self._keys is not None
        assert self._api_keys is not None
        await self._nats.connected()
        # A lost bucket, or writes missed while NATS was away, heal here: now, and then every
        # api_key_rebuild_seconds (a key created during an outage works from the next round).
        await self._api_keys.rebuild_bucket(self._keys)
        loop.ready()
        while True:
            try:
                await asyncio.wait_for(loop.stop.wait(), self.settings.api_key_rebuild_seconds)
                return
            except TimeoutError:
                await self._api_keys.rebuild_bucket(self._keys)

    async def stop(self) -> None:
        """Drain RPCs, stop background work, close NATS and the pool."""
        self.metrics.stop()
        if self._server is not None:
            await self._server.stop(self.settings.shutdown_grace_seconds)
        await self.loops.stop(self.settings.shutdown_grace_seconds)
        await self._nats.drain()
        if self._pool is not None:
            await self._pool.close()
        await self.tracing.shutdown()

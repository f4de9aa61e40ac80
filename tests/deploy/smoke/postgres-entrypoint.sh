#!/bin/sh
# Test-only: the parts of the official postgres image's entrypoint the compose file relies on.
# Initializes $PGDATA on first start (superuser $POSTGRES_USER with $POSTGRES_PASSWORD, database
# $POSTGRES_DB), then runs the server as uid 65534 with any `-c name=value` arguments given.
set -eu
[ "${1:-}" = postgres ] && shift
: "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD is required}"
user=${POSTGRES_USER:-postgres}
db=${POSTGRES_DB:-$user}
as_postgres() { setpriv --reuid=65534 --regid=65534 --clear-groups -- "$@"; }

mkdir -p "$PGDATA" /var/run/postgresql
chown 65534:65534 "$PGDATA" /var/run/postgresql
chmod 0700 "$PGDATA"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  pwfile=$(mktemp)
  printf '%s' "$POSTGRES_PASSWORD" >"$pwfile"
  chown 65534:65534 "$pwfile"
  as_postgres initdb -D "$PGDATA" -U "$user" --pwfile="$pwfile" -A scram-sha-256 \
    -E UTF8 --locale=C --no-sync >/dev/null
  rm -f "$pwfile"
  echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
  if [ "$db" != postgres ]; then
    echo "CREATE DATABASE \"$db\" OWNER \"$user\";" |
      as_postgres postgres --single -D "$PGDATA" postgres >/dev/null
  fi
fi
exec setpriv --reuid=65534 --regid=65534 --clear-groups -- \
  postgres -D "$PGDATA" -k /var/run/postgresql "$@"

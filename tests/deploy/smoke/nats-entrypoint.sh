#!/bin/sh
# Test-only: like the official nats image, arguments starting with "-" are nats-server's.
set -e
if [ "${1#-}" != "${1:-}" ]; then
  set -- nats-server "$@"
fi
exec "$@"

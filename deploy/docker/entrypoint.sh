#!/bin/sh
# Starts the service this image was built for (VR_SERVICE, set at build time). The service replaces
# this shell, so it is PID 1 and receives SIGTERM itself.
set -eu
case "${VR_SERVICE:?VR_SERVICE is not set}" in
  migrate)
    # One-shot: each service's migrations, under that service's advisory lock, as that service's
    # own role (provisioned first when VOIDRUNNER_DATABASE_ADMIN_URL is set).
    VOIDRUNNER_DATABASE_URL="${AUTH_DATABASE_URL:-${VOIDRUNNER_DATABASE_URL:-}}" \
      python -m voidrunner.auth migrate up
    VOIDRUNNER_DATABASE_URL="${TASKS_DATABASE_URL:-${VOIDRUNNER_DATABASE_URL:-}}" \
      exec python -m voidrunner.tasks migrate up
    ;;
  *)
    exec python -m "voidrunner.$VR_SERVICE" "$@"
    ;;
esac

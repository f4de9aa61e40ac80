#!/usr/bin/env bash
# A private, network-less Docker engine for CI and local sandbox tests.
#
#   scripts/ci/docker-engine.sh start <dir>   install (as root) and start dockerd; prints DOCKER_HOST
#   scripts/ci/docker-engine.sh stop <dir>    stop it and reap whatever it left behind
#
# Everything lives under <dir>: data-root, exec-root, pidfile, log and the socket <dir>/docker.sock.
# The daemon never creates a bridge and never touches iptables (the CI machine's firewall is not ours),
# and gVisor's runsc is registered with --network=none (Debian's runsc cannot start a sandbox with
# networking on the CI kernel; our containers run with NetworkMode none anyway). Both commands are
# idempotent.
set -euo pipefail

usage() { echo "usage: $0 start|stop <dir>" >&2; exit 2; }
[ $# -eq 2 ] || usage
cmd=$1
dir=$(realpath -m "$2")
sock="$dir/docker.sock"
pidfile="$dir/dockerd.pid"
exec_root="$dir/exec"
data_root="$dir/data"
# Docker's own client may be a newer build elsewhere on PATH; it negotiates the API version down.
docker_cli() { docker --host "unix://$sock" "$@"; }

ensure_packages() {
  local need=()
  command -v dockerd >/dev/null || need+=(docker.io)
  [ -x /usr/bin/runsc ] || need+=(runsc)
  command -v debootstrap >/dev/null || need+=(debootstrap)
  [ ${#need[@]} -eq 0 ] && return 0
  if [ "$(id -u)" != 0 ]; then
    echo "error: missing ${need[*]} and not root; install them with apt-get" >&2
    exit 1
  fi
  echo "installing system packages: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # policy-rc.d (when present) keeps the distribution's docker service from starting on install.
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
}

running() {
  [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null
}

ready() {
  docker_cli version --format '{{.Server.Version}}' >/dev/null 2>&1
}

write_config() {
  # runsc is registered by absolute path so a different runsc on PATH cannot be picked up.
  cat >"$dir/daemon.json" <<'JSON'
{
  "runtimes": {
    "runsc": {"path": "/usr/bin/runsc", "runtimeArgs": ["--network=none", "--oci-seccomp"]}
  },
  "default-runtime": "runc",
  "ip-forward": false,
  "ip-masq": false,
  "userland-proxy": false,
  "live-restore": false,
  "shutdown-timeout": 2,
  "log-driver": "json-file",
  "log-opts": {"max-size": "10m", "max-file": "1"}
}
JSON
}

start() {
  if [ "$(id -u)" != 0 ]; then
    echo "error: dockerd needs root" >&2
    exit 1
  fi
  ensure_packages
  mkdir -p "$dir" "$exec_root" "$data_root"
  chmod 0711 "$dir"
  if running && ready; then
    echo "DOCKER_HOST=unix://$sock (already running, pid $(cat "$pidfile"))"
    return 0
  fi
  # A stale daemon (crashed, or socket gone) is stopped and cleaned up before a fresh start.
  stop >/dev/null
  write_config
  setsid dockerd \
    --config-file "$dir/daemon.json" \
    --iptables=false --ip6tables=false --bridge=none \
    --data-root "$data_root" --exec-root "$exec_root" --pidfile "$pidfile" \
    --host "unix://$sock" --group root \
    </dev/null >"$dir/dockerd.log" 2>&1 &
  local _
  for _ in $(seq 1 150); do
    if ready; then
      echo "DOCKER_HOST=unix://$sock (pid $(cat "$pidfile"))"
      return 0
    fi
    sleep 0.2
  done
  echo "error: dockerd did not become ready; last log lines:" >&2
  tail -n 20 "$dir/dockerd.log" >&2 || true
  exit 1
}

# Pids of processes that belong to this engine: their command line names our private directory
# (containerd, containerd-shim, runsc sandboxes and gofers all carry the exec-root or bundle path).
engine_pids() {
  local p
  for p in /proc/[0-9]*; do
    [ "${p#/proc/}" = "$$" ] && continue
    if { tr '\0' ' ' <"$p/cmdline"; } 2>/dev/null | grep -qF -- "$dir/"; then
      echo "${p#/proc/}"
    fi
  done
}

stop() {
  local pid
  if [ -f "$pidfile" ]; then
    pid=$(cat "$pidfile")
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid"
      # dockerd stops its containers (shutdown-timeout: 2 s of grace) before exiting.
      for _ in $(seq 1 150); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.2
      done
      kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
    fi
    rm -f "$pidfile"
  fi
  # A failed or interrupted runsc start leaves shims and gVisor processes Docker no longer lists.
  for pid in $(engine_pids); do
    kill -KILL "$pid" 2>/dev/null || true
  done
  if [ -d "$dir" ]; then
    # netns/default and any overlay or shm mounts that survived, innermost first.
    awk -v d="$dir/" 'index($2, d) == 1 { print $2 }' /proc/self/mounts | sort -r |
      while read -r m; do umount -l "$m" 2>/dev/null || true; done
  fi
  rm -f "$sock"
  echo "stopped engine under $dir"
}

case "$cmd" in
  start) start ;;
  stop) stop ;;
  *) usage ;;
esac

#!/usr/bin/env bash
# Installs the sandbox's host tools (bubblewrap, a C compiler for the sandbox launcher, Node.js,
# Go) and the headless Chromium the browser tests drive (Playwright cannot download its own) from
# the system's packages when they are missing. As root it installs them; otherwise it says what
# to run.
# Extra arguments name more tools whose command and package share a name (`make bench` adds wrk).
set -euo pipefail
need=()
for tool in "$@"; do
  command -v "$tool" >/dev/null || need+=("$tool")
done
command -v bwrap >/dev/null || need+=(bubblewrap)
# The bwrap backend builds its in-sandbox launcher (launcher.c) with the host's C compiler.
command -v cc >/dev/null || need+=(gcc)
[ -e /usr/include/stdio.h ] || need+=(libc6-dev)
command -v node >/dev/null || need+=(nodejs)
command -v go >/dev/null || [ -x /usr/lib/go/bin/go ] || need+=(golang-go)
command -v chromium-headless-shell >/dev/null || command -v chromium >/dev/null ||
  need+=(chromium-headless-shell)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "installing system packages: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
else
  echo "warning: missing ${need[*]}; runtimes that need them are reported unavailable and browser tests skip." >&2
  echo "         install them with: sudo apt-get install -y ${need[*]}" >&2
fi

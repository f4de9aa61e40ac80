#!/usr/bin/env bash
# Installs the sandbox's host tools (bubblewrap, a C compiler for the sandbox launcher, Node.js,
# Go) and the headless Chromium the browser tests drive (Playwright cannot download its own) from
# the system's packages when they are missing. As root it installs them; otherwise it says what
# to run.
# Extra arguments name more tools whose command and package share a name (`make bench` adds wrk).
# --runtimes (`make runtimes`, CI) also installs the toolchains of the catalogue's other languages
# (C, C++, Ruby, Rust, Java, PyPy, TypeScript); `make run` installs only what its defaults need.
set -euo pipefail
need=()
runtimes=0
for tool in "$@"; do
  if [ "$tool" = --runtimes ]; then runtimes=1; continue; fi
  command -v "$tool" >/dev/null || need+=("$tool")
done
if [ "$runtimes" = 1 ]; then
  # Checked under /usr/bin: the bwrap backend binds only /usr, so a toolchain elsewhere (a
  # rustup one in ~/.cargo, say) does not count. The package names match the catalogue's
  # `packages` (runtimes.toml), which an unavailable runtime's reason names.
  [ -x /usr/bin/g++ ] || need+=(g++)
  [ -x /usr/bin/ruby ] || need+=(ruby)
  [ -x /usr/bin/rustc ] || need+=(rustc)
  [ -x /usr/bin/javac ] || need+=(default-jdk-headless)
  [ -x /usr/bin/pypy3 ] || need+=(pypy3)
  [ -x /usr/bin/tsc ] || need+=(node-typescript)
fi
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

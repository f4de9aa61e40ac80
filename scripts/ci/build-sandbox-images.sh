#!/usr/bin/env bash
# Builds the sandbox images voidrunner/sandbox-<runtime>:latest (names as in the runtime catalogue,
# runtimes.toml; sandbox-node is an alias of sandbox-javascript) without pulling anything: no
# registry is reachable in CI, the distribution's package archive is. Each image is a
# debootstrap'ed Debian root file system (minbase + python3), optionally with the language's
# packages installed in a chroot, then `docker import`ed.
#
#   DOCKER_HOST=unix:///tmp/vr-docker/docker.sock scripts/ci/build-sandbox-images.sh [cache-dir]
#
# VOIDRUNNER_SANDBOX_IMAGES names the runtimes to build (default: python bash javascript go, what
# CI's time budget affords); "all" adds pypy c cpp ruby rust java typescript, each a chroot apt
# install of its toolchain. Measured on a 2-core machine: those seven take about 3.5 min from the
# cached base (c 24 s, java 44 s) and 2.8 GB of images (rust 808 MB, java 458 MB, cpp 418 MB, c
# 361 MB, typescript 322 MB, pypy 249 MB, ruby 192 MB); from cached root file systems, importing
# them takes about 45 s. Without an image the docker backend reports that runtime unavailable and
# its conformance cases skip; the bwrap backend runs the whole matrix.
#
# The layout the docker backend expects (see deploy/sandbox-images/ for the production equivalent):
#   - python3 in every image: the in-container launcher (voidrunner.executor.sandbox.docker) is Python;
#   - user and group 65534 (Debian's nobody) exist; code runs as 65534:65534;
#   - /tmp exists (the backend mounts a size-capped tmpfs there and runs the code in it);
#   - an empty /etc/resolv.conf: sandboxes have no network, and the build host's must not leak in.
# Root file systems are cached as tarballs under the cache dir (default /var/cache/voidrunner-images),
# so a second run on the same machine only imports; images already in the engine are skipped.
set -euo pipefail

# Bump when the layout or package set changes, so stale cached tarballs are not reused.
LAYOUT=v1
SUITE=bookworm
cache=${1:-/var/cache/voidrunner-images}
export DOCKER_HOST=${DOCKER_HOST:-unix:///tmp/vr-docker/docker.sock}

if [ "$(id -u)" != 0 ]; then
  echo "error: debootstrap and chroot need root" >&2
  exit 1
fi
command -v debootstrap >/dev/null || {
  echo "error: debootstrap is missing (scripts/ci/docker-engine.sh start installs it)" >&2
  exit 1
}
mkdir -p "$cache"
work=$(mktemp -d "$cache/build.XXXXXX")
cleanup() {
  # A chroot step that failed half-way may have left /proc mounted inside the build tree.
  awk -v d="$work/" 'index($2, d) == 1 { print $2 }' /proc/self/mounts | sort -r |
    while read -r m; do umount -l "$m" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

have_image() { docker image inspect "$1" >/dev/null 2>&1; }

finish_rootfs() {
  local root=$1
  : >"$root/etc/resolv.conf"
  rm -f "$root/usr/sbin/policy-rc.d"
  rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb
  chmod 1777 "$root/tmp"
  grep -q '^nobody:x:65534:65534:' "$root/etc/passwd"
}

# The base root file system: minbase (has bash and coreutils) plus python3 for the launcher.
base_tar="$cache/$SUITE-$LAYOUT-base.tar"
build_base() {
  [ -s "$base_tar" ] && return 0
  local root="$work/base"
  echo "debootstrap $SUITE (minbase + python3) ..."
  debootstrap --variant=minbase --include=python3 "$SUITE" "$root" >"$work/debootstrap.log" 2>&1 || {
    tail -n 30 "$work/debootstrap.log" >&2
    exit 1
  }
  finish_rootfs "$root"
  tar -C "$root" -cf "$base_tar.part" . && mv "$base_tar.part" "$base_tar"
  rm -rf "$root"
}

# A derived root file system: the base plus distribution packages installed in a chroot.
build_derived() {
  local name=$1
  shift
  local out="$cache/$SUITE-$LAYOUT-$name.tar"
  [ -s "$out" ] && return 0
  local root="$work/$name"
  echo "building $name root file system (${*}) ..."
  mkdir -p "$root"
  tar -C "$root" -xf "$base_tar"
  cp /etc/resolv.conf "$root/etc/resolv.conf"
  # Keep package scripts from starting services inside the chroot.
  printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
  chmod +x "$root/usr/sbin/policy-rc.d"
  mount -t proc proc "$root/proc"
  {
    chroot "$root" apt-get update -qq &&
      DEBIAN_FRONTEND=noninteractive chroot "$root" apt-get install -y -qq --no-install-recommends "$@"
  } >"$work/$name-apt.log" 2>&1 || {
    umount "$root/proc"
    tail -n 30 "$work/$name-apt.log" >&2
    exit 1
  }
  umount "$root/proc"
  finish_rootfs "$root"
  tar -C "$root" -cf "$out.part" . && mv "$out.part" "$out"
  rm -rf "$root"
}

import_image() {
  local tarball=$1 image=$2
  echo "importing $image ..."
  # The image config matches what the backend sets per container anyway; it documents the layout.
  docker import \
    --change 'USER 65534:65534' \
    --change 'WORKDIR /tmp' \
    --change 'ENV PATH=/usr/local/bin:/usr/bin:/bin HOME=/tmp TMPDIR=/tmp LANG=C.UTF-8' \
    --change 'CMD ["/bin/sh"]' \
    - "$image" <"$tarball" >/dev/null
}

wanted=${VOIDRUNNER_SANDBOX_IMAGES:-python bash javascript go}
[ "$wanted" = all ] && wanted="python bash javascript go pypy c cpp ruby rust java typescript"
need=()
for lang in $wanted; do
  have_image "voidrunner/sandbox-$lang:latest" || need+=("$lang")
done
if [ ${#need[@]} -eq 0 ]; then
  echo "sandbox images already present"
  exit 0
fi

build_base
for lang in "${need[@]}"; do
  case "$lang" in
    python | bash) tarball=$base_tar ;;
    javascript)
      build_derived node nodejs
      tarball="$cache/$SUITE-$LAYOUT-node.tar"
      ;;
    go)
      # gcc is not needed: the sandbox runs with CGO_ENABLED=0.
      build_derived go golang-go
      tarball="$cache/$SUITE-$LAYOUT-go.tar"
      ;;
    pypy) build_derived pypy pypy3 ;;
    c) build_derived c gcc libc6-dev ;;
    cpp) build_derived cpp g++ ;;
    ruby) build_derived ruby ruby ;;
    # rustc links with the C compiler.
    rust) build_derived rust rustc gcc libc6-dev ;;
    java) build_derived java default-jdk-headless ;;
    typescript) build_derived typescript nodejs node-typescript ;;
    *)
      echo "error: no sandbox image recipe for $lang" >&2
      exit 1
      ;;
  esac
  case "$lang" in
    python | bash | javascript | go) ;;
    *) tarball="$cache/$SUITE-$LAYOUT-$lang.tar" ;;
  esac
  import_image "$tarball" "voidrunner/sandbox-$lang:latest"
done
if have_image voidrunner/sandbox-javascript:latest; then
  docker tag voidrunner/sandbox-javascript:latest voidrunner/sandbox-node:latest
fi
docker image ls --filter 'reference=voidrunner/sandbox-*' --format '{{.Repository}}:{{.Tag}} {{.Size}}'

#!/usr/bin/env bash
# Installs the pinned uv into .tools/ using only the system's python3 (Debian needs python3-venv
# for that, which we install when we are root and it is missing).
set -euo pipefail
tools=${1:-.tools}
version=${2:?uv version}
py=${PYTHON:-python3}
if [ -x "$tools/bin/uv" ] && [ "$("$tools/bin/uv" --version | awk '{print $2}')" = "$version" ]; then
  exit 0
fi
rm -rf "$tools"
if ! "$py" -m venv "$tools" 2>/dev/null; then
  rm -rf "$tools"
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    pyver=$("$py" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
    apt-get update -qq
    apt-get install -y -qq "python${pyver}-venv" || apt-get install -y -qq python3-venv
    "$py" -m venv "$tools"
  else
    echo "error: '$py -m venv' failed; install your distribution's python3-venv package" >&2
    exit 1
  fi
fi
"$tools/bin/python" -m pip install --quiet --disable-pip-version-check "uv==$version"

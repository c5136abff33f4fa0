#!/usr/bin/env bash
# One-time set-up of a fresh Debian machine for cloudai: Node 24, pnpm, a
# Docker engine with the local test image, Prometheus (for the metrics test;
# all of these through .ci/provision.sh), the dependencies, and a build.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=../.ci/provision.sh
source "$root/.ci/provision.sh"
# Later shells need Node 24 and pnpm too: link them ahead of the system's
# Node (/usr/local/bin precedes /usr/bin on Debian's PATH).
if [[ "$(command -v node)" == "$CLOUDAI_NODE_BIN/node" && -w /usr/local/bin ]]; then
  ln -sf "$CLOUDAI_NODE_BIN/node" /usr/local/bin/node
  ln -sf "$CLOUDAI_NODE_BIN/pnpm" /usr/local/bin/pnpm
  echo "[setup] linked Node 24 and pnpm into /usr/local/bin" >&2
fi
cd "$root"
pnpm install --frozen-lockfile
pnpm build
echo "[setup] done: start the cluster with \`pnpm start\`" >&2

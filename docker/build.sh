#!/usr/bin/env bash
# Builds the cloudai images from docker/<app>.Dockerfile, from the repository
# root, tagged cloudai/<app>:${CLOUDAI_IMAGE_TAG:-local}, then prints their sizes:
#
#   docker/build.sh [--prune] [APP...]     # default: master scheduler storage worker web cli
#
# --prune then deletes what earlier builds left: the cloudai images these
# tags named before, and the engine's build cache that this build did not
# use (all of it older than an hour, other projects' too). With the vfs
# storage driver (CI's) every layer is a full copy of its file system, and
# a day of builds would fill the disk.
#
# The six Dockerfiles share their build stage, so the workspace is installed
# and compiled once; BuildKit's cache makes a rebuild of unchanged sources
# take seconds.
#
# Settings (environment):
#   NODE_IMAGE             the Node 24 base image; `local` makes one without a
#                          registry (docker/local-images.sh node). Unset: the
#                          official node:24-bookworm-slim when the engine has
#                          it or can pull it, else `local`.
#   DOCKER                 the docker command. Unset: `docker` when it has
#                          buildx, else /usr/bin/docker if that is a 20.10-22
#                          CLI (Debian's docker.io), whose BuildKit is built in.
#   CLOUDAI_BUILD_NETWORK  the network of RUN steps (default host: an engine
#                          started with --bridge=none has no other).
#   CLOUDAI_REGISTRY_CA    a CA file the npm registry's TLS needs (a proxy's),
#                          handed to the build as the secret registry-ca.
#                          Unset: npm's cafile setting (`npm config get
#                          cafile`), else NODE_EXTRA_CA_CERTS, if either names
#                          a file.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
log() { printf '[build] %s\n' "$*" >&2; }

prune=0
if [[ "${1:-}" == --prune ]]; then
  prune=1
  shift
fi
APPS=("$@")
[[ ${#APPS[@]} -gt 0 ]] || APPS=(master scheduler storage worker web cli)
for app in "${APPS[@]}"; do
  [[ -f "docker/$app.Dockerfile" ]] || { log "no docker/$app.Dockerfile"; exit 2; }
done
TAG="${CLOUDAI_IMAGE_TAG:-local}"

if [[ -z "${DOCKER:-}" ]]; then
  DOCKER=docker
  if ! docker buildx version >/dev/null 2>&1 && [[ -x /usr/bin/docker ]]; then
    major=$(/usr/bin/docker version --format '{{.Client.Version}}' 2>/dev/null | cut -d. -f1)
    if [[ "$major" =~ ^[0-9]+$ ]] && ((major >= 20 && major < 23)); then DOCKER=/usr/bin/docker; fi
  fi
fi
export DOCKER DOCKER_BUILDKIT=1

if [[ -z "${NODE_IMAGE:-}" ]]; then
  NODE_IMAGE=node:24-bookworm-slim
  if ! "$DOCKER" image inspect "$NODE_IMAGE" >/dev/null 2>&1 && ! "$DOCKER" pull -q "$NODE_IMAGE" >/dev/null 2>&1; then
    log "$NODE_IMAGE cannot be pulled here: making a local Node 24 base image"
    NODE_IMAGE=local
  fi
fi
if [[ "$NODE_IMAGE" == local ]]; then NODE_IMAGE=$(docker/local-images.sh node); fi
log "base image $NODE_IMAGE"

args=(--network "${CLOUDAI_BUILD_NETWORK:-host}" --build-arg "NODE_IMAGE=$NODE_IMAGE")
for ca in "${CLOUDAI_REGISTRY_CA:-}" "$(npm config get cafile 2>/dev/null || true)" "${NODE_EXTRA_CA_CERTS:-}"; do
  if [[ -f "$ca" ]]; then
    args+=(--secret "id=registry-ca,src=$ca")
    log "the npm registry's CA: $ca"
    break
  fi
done

for app in "${APPS[@]}"; do
  log "building cloudai/$app:$TAG"
  start=$SECONDS
  "$DOCKER" build "${args[@]}" -f "docker/$app.Dockerfile" -t "cloudai/$app:$TAG" .
  log "built cloudai/$app:$TAG in $((SECONDS - start)) s"
done

for app in "${APPS[@]}"; do
  bytes=$("$DOCKER" image inspect --format '{{.Size}}' "cloudai/$app:$TAG")
  printf '%-28s %4d MB\n' "cloudai/$app:$TAG" "$((bytes / 1000000))"
done

if ((prune)); then
  "$DOCKER" image prune -f --filter label=org.opencontainers.image.vendor=cloudai >/dev/null
  "$DOCKER" builder prune -f --filter until=1h >/dev/null
fi

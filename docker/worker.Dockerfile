# The @cloudai/worker image. Build it from the repository root:
#   docker build -f docker/worker.Dockerfile -t cloudai/worker .
# BuildKit (the default builder since Docker 23) is required: it reads the
# build-context rules from docker/worker.Dockerfile.dockerignore and runs the
# cache mounts below.
#
# Every docker/<app>.Dockerfile has the same pruner and builder stages and
# differs only in APP and the runtime stage; change them together.

ARG NODE_IMAGE=node:24-bookworm-slim

# Reduces the monorepo to @cloudai/worker and the workspace packages it needs,
# split into package manifests (json/) and sources (full/), so that the
# dependency install below is cached until a manifest or the lockfile changes.
FROM ${NODE_IMAGE} AS pruner
ARG APP=worker
# The turbo that pnpm-lock.yaml pins: the builder runs that one, and both
# must read the pruned workspace the same way.
ARG TURBO_VERSION=2.11.11
ENV TURBO_TELEMETRY_DISABLED=1 DO_NOT_TRACK=1
WORKDIR /repo
COPY . .
RUN npx --yes turbo@${TURBO_VERSION} prune "@cloudai/${APP}" --docker

FROM ${NODE_IMAGE} AS builder
ARG APP=worker
# The version package.json's packageManager names; any other pnpm 10 would
# download that one before doing anything.
ARG PNPM_VERSION=10.34.9
ENV TURBO_TELEMETRY_DISABLED=1 DO_NOT_TRACK=1 CI=true
RUN npm install --global --no-audit --no-fund "pnpm@${PNPM_VERSION}"
WORKDIR /repo
COPY --from=pruner /repo/out/json/ ./
RUN --mount=type=cache,id=cloudai-pnpm-store,target=/root/.local/share/pnpm/store \
    pnpm install --frozen-lockfile
COPY --from=pruner /repo/out/full/ ./
# Neither is a workspace package, so prune leaves both out: every tsconfig
# extends the base, and packages/proto runs `buf generate ../../proto`.
COPY tsconfig.base.json ./
COPY proto/ ./proto/
# sharing=locked: compose builds the images in parallel, and two turbo
# processes writing one cache entry at once could corrupt it.
RUN --mount=type=cache,id=cloudai-turbo-cache,target=/repo/.turbo/cache,sharing=locked \
    pnpm turbo run build --filter="@cloudai/${APP}..."
# --legacy: pnpm 10's default deploy needs inject-workspace-packages=true,
# which the workspace does not set. The result is dist/ plus a node_modules
# holding only production dependencies, workspace packages copied in.
RUN --mount=type=cache,id=cloudai-pnpm-store,target=/root/.local/share/pnpm/store \
    pnpm --filter="@cloudai/${APP}" deploy --prod --legacy /out

FROM ${NODE_IMAGE} AS runtime
# The worker drives the host's Docker engine through its socket, yet runs as
# the node user: give it the socket's group rather than root. Mount its data
# folder at the same path inside as outside, because the host's daemon, not
# the worker, resolves the /output bind mounts of task containers:
#   sudo install -d -o 1000 -g 1000 /var/lib/cloudai
#   docker run \
#     --group-add "$(stat -c %g /var/run/docker.sock)" \
#     -v /var/run/docker.sock:/var/run/docker.sock \
#     -v /var/lib/cloudai:/var/lib/cloudai \
#     -v <folder with ca.crt, worker.crt, worker.key>:/certs:ro \
#     -e TLS_CERT_FILE=/certs/worker.crt -e TLS_KEY_FILE=/certs/worker.key \
#     -e TLS_CA_FILE=/certs/ca.crt -e TLS_CLIENT_CA_FILE=/certs/ca.crt \
#     -e CLOUDAI_MASTER=<master>:50051 -e CLOUDAI_STORAGE=<storage>:50052 \
#     -e ADVERTISE_ADDR=<address the master can dial>:50061 \
#     cloudai/worker
ENV NODE_ENV=production \
    LISTEN_ADDR=0.0.0.0:50061 \
    CLOUDAI_DATA_DIR=/var/lib/cloudai
WORKDIR /app
# Left owned by root: the service has no reason to rewrite its own code.
COPY --from=builder /out/ ./
# No VOLUME: an anonymous volume lives at another path on the host, so the
# daemon would bind task outputs from a folder the worker never sees.
RUN install -d -o node -g node /var/lib/cloudai
EXPOSE 50061
USER node
CMD ["node", "--enable-source-maps", "dist/main.js"]

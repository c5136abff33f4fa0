# The @cloudai/cli image. Build it from the repository root:
#   docker build -f docker/cli.Dockerfile -t cloudai/cli .
# BuildKit (the default builder since Docker 23) is required: it reads the
# build-context rules from docker/cli.Dockerfile.dockerignore and runs the
# cache mounts below.
#
# Every docker/<app>.Dockerfile has the same pruner and builder stages and
# differs only in APP and the runtime stage; change them together.

ARG NODE_IMAGE=node:24-bookworm-slim

# Reduces the monorepo to @cloudai/cli and the workspace packages it needs,
# split into package manifests (json/) and sources (full/), so that the
# dependency install below is cached until a manifest or the lockfile changes.
FROM ${NODE_IMAGE} AS pruner
ARG APP=cli
# The turbo that pnpm-lock.yaml pins: the builder runs that one, and both
# must read the pruned workspace the same way.
ARG TURBO_VERSION=2.11.11
ENV TURBO_TELEMETRY_DISABLED=1 DO_NOT_TRACK=1
WORKDIR /repo
COPY . .
RUN npx --yes turbo@${TURBO_VERSION} prune "@cloudai/${APP}" --docker

FROM ${NODE_IMAGE} AS builder
ARG APP=cli
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
ENV NODE_ENV=production
WORKDIR /app
# Left owned by root: the client has no reason to rewrite its own code.
COPY --from=builder /out/ ./
# The command line goes straight to the CLI, and downloads land in the working
# directory, so mount one there. The token comes from CLOUDAI_TOKEN (or a
# mounted config folder through XDG_CONFIG_HOME):
#   docker run --rm --user "$(id -u):$(id -g)" -v "$PWD:/work" \
#     -e CLOUDAI_MASTER=<master>:50051 -e CLOUDAI_TOKEN cloudai/cli list
RUN install -d -o node -g node /work
WORKDIR /work
USER node
ENTRYPOINT ["node", "--enable-source-maps", "/app/dist/main.js"]
CMD ["--help"]

# The @cloudai/scheduler image. docker/build.sh builds every image (and, where no
# registry serves images, the Node base first); by hand, from the repository root:
#   DOCKER_BUILDKIT=1 docker build -f docker/scheduler.Dockerfile -t cloudai/scheduler:local .
# BuildKit is required (the default builder since Docker 23; Docker 20.10
# needs DOCKER_BUILDKIT=1): it reads the build context rules from
# docker/scheduler.Dockerfile.dockerignore and runs the mounts below.
#
# Every docker/<app>.Dockerfile has the same stages but the last, byte for
# byte, so BuildKit builds the workspace once and the other images reuse it
# (tests/images/definitions.test.ts holds them to that). Each step makes a
# layer, and on an engine with the vfs storage driver (CI's) every layer is
# a full copy of the file system: hence few steps, each doing a lot.

# Any image with Node 24, npm, a POSIX shell with cp, mkdir and chown, and a
# `node` user: the official one, or the one docker/local-images.sh makes offline.
ARG NODE_IMAGE=node:24-bookworm-slim

FROM ${NODE_IMAGE} AS builder
# The version package.json's packageManager names; any other pnpm 10 would
# download that one before doing anything.
ARG PNPM_VERSION=10.34.9
ENV TURBO_TELEMETRY_DISABLED=1 DO_NOT_TRACK=1 CI=true TURBO_CACHE_DIR=/turbo-cache
# The steps that reach the npm registry mount the secret registry-ca when the
# build is given one (docker/build.sh passes the host's npm CA file): behind
# a TLS-inspecting proxy, Node must trust that proxy's CA as well.
RUN --mount=type=secret,id=registry-ca \
    if [ -s /run/secrets/registry-ca ]; then export NODE_EXTRA_CA_CERTS=/run/secrets/registry-ca; fi; \
    npm install --global --no-audit --no-fund --no-update-notifier "pnpm@${PNPM_VERSION}"
WORKDIR /repo
# The lockfile alone says what to download, so this layer and the store
# stay cached until it changes.
COPY pnpm-lock.yaml pnpm-workspace.yaml .npmrc ./
RUN --mount=type=secret,id=registry-ca \
    --mount=type=cache,id=cloudai-pnpm-store,target=/root/.local/share/pnpm/store \
    if [ -s /run/secrets/registry-ca ]; then export NODE_EXTRA_CA_CERTS=/run/secrets/registry-ca; fi; \
    pnpm fetch
COPY . .
# One step from sources to what every image runs, /prod/<app> for each app:
# install, generate the protobuf code and compile the whole workspace, then
# for each app cut the workspace down to it and the packages it uses (turbo
# prune) and install that again with production dependencies only, the
# versions pnpm-lock.yaml pins, nothing downloaded (pnpm deploy would resolve
# them anew: its lockfile-based mode needs inject-workspace-packages, which
# the workspace does not set). proto/ goes along, where the packages find it
# (../../proto). No install scripts there: the only ones left build optional
# native speed-ups (ssh2's, cpu-features') that need a compiler and that
# dockerode does without. An app with no runtime dependencies (the CLI, one
# bundle: apps/cli/bundle.mjs) takes only its package.json and dist/. The
# workspace and its development dependencies are deleted in the same step,
# so no layer keeps them.
RUN --mount=type=cache,id=cloudai-pnpm-store,target=/root/.local/share/pnpm/store \
    --mount=type=cache,id=cloudai-turbo-cache,target=/turbo-cache,sharing=locked \
    pnpm install --offline --frozen-lockfile \
 && pnpm build \
 && for dir in apps/*/; do \
      app=$(basename "$dir"); \
      if node -e "process.exit(Object.keys(require('./${dir}package.json').dependencies ?? {}).length ? 1 : 0)"; then \
        mkdir -p "/prod/$app/$dir" && cp -R "${dir}package.json" "${dir}dist" "/prod/$app/$dir" || exit 1; \
        continue; \
      fi; \
      pnpm exec turbo prune "@cloudai/$app" --out-dir "/prod/$app" \
   && find "/prod/$app" \( -name node_modules -o -name .turbo \) -prune -exec rm -rf {} + \
   && cp -R proto "/prod/$app/proto" \
   && (cd "/prod/$app" && pnpm install --prod --frozen-lockfile --offline --ignore-scripts) \
   || exit 1; \
    done \
 && cd / && rm -rf /repo

FROM ${NODE_IMAGE} AS runtime
# The vendor label is how docker/build.sh --prune finds earlier builds.
LABEL org.opencontainers.image.vendor=cloudai org.opencontainers.image.title=cloudai-scheduler
# The scheduler keeps nothing on disk and serves only gRPC health and
# reflection (and metrics); it needs CLOUDAI_MASTER to reach the master.
# Chunk buffers reused from glibc's heap, and a small young generation keeping
# RSS flat under bursts (see packages/testing/src/app-runtime.ts).
ENV NODE_ENV=production \
    MALLOC_MMAP_THRESHOLD_=4194304 \
    LISTEN_ADDR=0.0.0.0:50053
# Left owned by root: the service has no reason to rewrite its own code.
COPY --from=builder /prod/scheduler/ /app/
EXPOSE 50053
USER node
# The gRPC health service of the app's own server (LISTEN_ADDR, over TLS when
# TLS_CERT_FILE is set): healthy while it answers SERVING, which the app
# stops answering when it drains before shutdown.
HEALTHCHECK --interval=5s --timeout=5s --start-period=30s --retries=3 \
    CMD ["node", "/app/packages/rpc/dist/health-check-main.js"]
CMD ["node", "--max-semi-space-size=2", "--enable-source-maps", "/app/apps/scheduler/dist/main.js"]

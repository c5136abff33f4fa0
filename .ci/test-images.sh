#!/usr/bin/env bash
# Builds the local images the tests and benchmarks use, from Debian's
# busybox-static: no registry is reachable, so nothing is pulled.
set -euo pipefail
IMAGE="${CLOUDAI_TEST_IMAGE:-cloudai-test/busybox:1}"
if docker image inspect "$IMAGE" >/dev/null 2>&1; then exit 0; fi
dir="$(mktemp -d)"
trap 'rm -rf "$dir"' EXIT
mkdir -p "$dir/bin" "$dir/tmp" "$dir/output" "$dir/etc"
cp /bin/busybox "$dir/bin/busybox"
for applet in $("$dir/bin/busybox" --list); do
  [[ "$applet" == busybox ]] || ln -s busybox "$dir/bin/$applet"
done
echo 'root:x:0:0:root:/root:/bin/sh' > "$dir/etc/passwd"
echo 'nobody:x:65534:65534:nobody:/:/bin/sh' >> "$dir/etc/passwd"
echo 'root:x:0:' > "$dir/etc/group"
tar -C "$dir" -c . | docker import -c 'ENV PATH=/bin' - "$IMAGE" >/dev/null
echo "[test-images] built $IMAGE" >&2

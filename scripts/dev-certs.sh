#!/usr/bin/env bash
# Makes a development CA and one certificate per cloudai process, for TLS and
# mTLS between the services (see docker/README.md):
#
#   scripts/dev-certs.sh <out-dir> [--owner UID[:GID]]
#
# <out-dir> gets ca.crt and ca.key (the CA; keep ca.key to itself), and
# <name>.crt / <name>.key for master, storage, worker, scheduler and web (each
# for serving and, as a client, for mTLS; web serves HTTPS with its own and
# presents it to the master) and cli (a client certificate only).
# Service certificates name localhost, 127.0.0.1, ::1 and the service's
# compose name; DEV_CERTS_EXTRA_SANS adds more to every service certificate
# (e.g. "DNS:gpu-7.lab,IP:10.0.0.7"). Keys are written with mode 0600.
# --owner hands the five service keys and certificates to that user (as root):
# the images run as uid 1000, which must be able to read its mounted key.
#
# The certificates are for development: ECDSA P-256, valid 825 days, from a
# CA made here. Rerun to replace them all; existing files are overwritten.
set -euo pipefail

# shellcheck source=lib/out-dir-args.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/out-dir-args.sh"
parse_out_dir_args "$@"

SERVICES=(master storage worker scheduler web)
DAYS=825
# Keys first of all: nothing written below may be readable by others, even briefly.
umask 077
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

new_key() {
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null
}

# $1 name, $2 subject CN, $3 extensions (openssl x509v3 config lines)
issue() {
  local name=$1 cn=$2 extensions=$3
  new_key "$out/$name.key"
  printf '%s\n' "$extensions" >"$work/$name.ext"
  openssl req -new -key "$out/$name.key" -subj "/O=cloudai development/CN=$cn" -out "$work/$name.csr"
  openssl x509 -req -in "$work/$name.csr" -CA "$out/ca.crt" -CAkey "$out/ca.key" \
    -set_serial "0x$(openssl rand -hex 16)" -days "$DAYS" -sha256 \
    -extfile "$work/$name.ext" -out "$out/$name.crt" 2>/dev/null
  chmod 0644 "$out/$name.crt"
}

new_key "$out/ca.key"
openssl req -x509 -new -key "$out/ca.key" -subj "/O=cloudai development/CN=cloudai development CA" \
  -days "$DAYS" -sha256 -out "$out/ca.crt" \
  -addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
  -addext "keyUsage=critical,keyCertSign,cRLSign"
chmod 0644 "$out/ca.crt"

for service in "${SERVICES[@]}"; do
  sans="DNS:$service,DNS:localhost,IP:127.0.0.1,IP:::1${DEV_CERTS_EXTRA_SANS:+,$DEV_CERTS_EXTRA_SANS}"
  # serverAuth and clientAuth: one certificate serves the process's server and
  # identifies it to the services it calls.
  issue "$service" "$service" "basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth,clientAuth
subjectAltName=$sans"
done
issue cli "cloudai cli" "basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth"

if [[ -n $owner ]]; then
  for service in "${SERVICES[@]}"; do chown "$owner" "$out/$service.key" "$out/$service.crt"; done
fi
echo "dev-certs: wrote a CA and certificates for ${SERVICES[*]} and cli to $out"

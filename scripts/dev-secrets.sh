#!/usr/bin/env bash
# Makes the cluster's secrets for a deployment whose processes do not share
# the master's data folder (docker/compose.yaml; see docker/README.md):
#
#   scripts/dev-secrets.sh <out-dir> [--owner UID[:GID]]
#
# <out-dir> gets:
#   join-token       the cluster's join secret (caj_…): master, workers and
#                    schedulers read it (CLOUDAI_JOIN_TOKEN_FILE)
#   signing-key.pem  the master's Ed25519 key (CLOUDAI_SIGNING_KEY_FILE): it
#                    signs worker credentials, upload grants and its own calls
#   signing-key.pub  its public half, for storage (CLOUDAI_MASTER_PUBLIC_KEY_FILE)
#   metrics-token    the bearer token every metrics scrape must send
#                    (METRICS_TOKEN_FILE; docker/prometheus/prometheus.yml)
# Every file is mode 0600 (the public key 0644). --owner hands them to that
# user (as root): the images run as uid 1000. Existing files are kept, so a
# rerun never splits a running cluster; delete them to make new ones.
set -euo pipefail

# shellcheck source=lib/out-dir-args.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/out-dir-args.sh"
parse_out_dir_args "$@"

umask 077
mkdir -p "$out"
if [[ ! -e $out/join-token ]]; then
  # 256 random bits, base64url without padding: the form the master makes itself.
  printf 'caj_%s\n' "$(openssl rand -base64 32 | tr '+/' '-_' | tr -d '=\n')" >"$out/join-token"
fi
if [[ ! -e $out/metrics-token ]]; then
  printf '%s\n' "$(openssl rand -base64 32 | tr '+/' '-_' | tr -d '=\n')" >"$out/metrics-token"
fi
if [[ ! -e $out/signing-key.pem ]]; then
  openssl genpkey -algorithm ed25519 -out "$out/signing-key.pem" 2>/dev/null
  rm -f "$out/signing-key.pub"
fi
if [[ ! -e $out/signing-key.pub ]]; then
  openssl pkey -in "$out/signing-key.pem" -pubout -out "$out/signing-key.pub"
  chmod 644 "$out/signing-key.pub"
fi
if [[ -n $owner ]]; then
  chown "$owner" "$out/join-token" "$out/metrics-token" "$out/signing-key.pem" "$out/signing-key.pub"
fi
echo "wrote $out/join-token, $out/metrics-token, $out/signing-key.pem and $out/signing-key.pub"

# Sourced by the scripts that write files for a deployment: parses
# `<out-dir> [--owner UID[:GID]]` into $out and $owner, and checks that the
# openssl command line they use is there.

usage() {
  echo "usage: $0 <out-dir> [--owner UID[:GID]]" >&2
  exit 2
}

parse_out_dir_args() {
  [[ $# -ge 1 ]] || usage
  out=$1
  shift
  owner=
  while [[ $# -gt 0 ]]; do
    case $1 in
      --owner)
        [[ $# -ge 2 ]] || usage
        owner=$2
        shift 2
        ;;
      *) usage ;;
    esac
  done
  command -v openssl >/dev/null || { echo "$0: the openssl command line is needed" >&2; exit 1; }
}

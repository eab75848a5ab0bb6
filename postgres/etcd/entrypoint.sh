#!/usr/bin/env bash
# Entrypoint of the etcd image: renders the member's configuration from the environment and execs etcd.
# Fails before etcd starts if any value the template needs is missing: an etcd member started with a wrong
# or empty initial cluster would found a cluster of its own.
set -euo pipefail

readonly TEMPLATE=/etc/swarmlab/etcd.yml
readonly RUN_DIR=/run/swarmlab
readonly RENDERED=$RUN_DIR/etcd.yml

die() {
  echo "entrypoint: $*" >&2
  exit 1
}

# Per-member values; ETCD_INITIAL_CLUSTER (every member's name=peer URL) has no default on purpose.
set_defaults() {
  : "${ETCD_NAME:=$HOSTNAME}"
  : "${ETCD_DATA_DIR:=/var/lib/etcd}"
  : "${ETCD_LISTEN_PEER_URLS:=http://0.0.0.0:2380}"
  : "${ETCD_LISTEN_CLIENT_URLS:=http://0.0.0.0:2379}"
  # Where the other members and Patroni reach this one: its host name on the overlay network unless told.
  : "${ETCD_ADVERTISE_HOST:=$HOSTNAME}"
  : "${ETCD_ADVERTISE_PEER_URLS:=http://$ETCD_ADVERTISE_HOST:2380}"
  : "${ETCD_ADVERTISE_CLIENT_URLS:=http://$ETCD_ADVERTISE_HOST:2379}"
  : "${ETCD_CLUSTER_TOKEN:=swarmlab-etcd}"
}

# Prints the names of the ${NAME} placeholders of the template, one per line.
placeholders() {
  grep -oE '\$\{[A-Z_][A-Z0-9_]*\}' "$TEMPLATE" | tr -d '{}$' | sort -u
}

check_values() {
  local name missing=() unsafe=()
  for name in "$@"; do
    if [[ -z ${!name:-} ]]; then
      missing+=("$name")
    elif [[ ${!name} == *[[:cntrl:]]* ]]; then
      unsafe+=("$name")
    fi
  done
  if ((${#missing[@]})); then
    die "unset or empty, needed by $TEMPLATE: ${missing[*]}"
  fi
  if ((${#unsafe[@]})); then
    die "a control character, which $TEMPLATE cannot take, in: ${unsafe[*]}"
  fi
}

# envsubst sees only the template's own placeholders, so any other `$` in the file is left alone.
render() {
  local names=("$@") shell_format
  # shellcheck disable=SC2016 # a literal ${NAME} list, envsubst's SHELL-FORMAT
  shell_format=$(printf '${%s} ' "${names[@]}")
  mkdir -p "$RUN_DIR" || die "cannot create $RUN_DIR as $(id -un)"
  (
    export "${names[@]}"
    envsubst "$shell_format" <"$TEMPLATE" >"$RENDERED"
  )
}

main() {
  local names
  set_defaults
  mapfile -t names < <(placeholders)
  ((${#names[@]})) || die "no \${NAME} placeholder found in $TEMPLATE"
  check_values "${names[@]}"
  render "${names[@]}"
  echo "entrypoint: $RENDERED rendered for member $ETCD_NAME; starting etcd" >&2
  exec etcd --config-file "$RENDERED"
}

main "$@"

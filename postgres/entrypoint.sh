#!/usr/bin/env bash
# Entrypoint of the postgres image: renders Patroni's configuration from the environment (secrets from
# NAME_FILE, as Docker secrets give them) and execs Patroni, which runs initdb or a base backup, PostgreSQL,
# leader election and failover. Fails before Patroni starts if a value that the template or
# post-bootstrap.sh needs is missing.
set -euo pipefail

readonly TEMPLATE=/etc/swarmlab/patroni.yml
readonly RUN_DIR=/run/swarmlab
readonly RENDERED=$RUN_DIR/patroni.yml
# Secrets: each may be given as NAME or, better, as NAME_FILE (a file holding the value).
readonly SECRETS=(PG_SUPERUSER_PASSWORD PG_REPLICATION_PASSWORD PG_REWIND_PASSWORD PATRONI_RESTAPI_PASSWORD
  MIGRATOR_PASSWORD APP_PASSWORD READONLY_PASSWORD BACKUP_PASSWORD MONITORING_PASSWORD)
# Not in the template: read by post-bootstrap.sh, which creates the roles on the cluster's first start. Checked
# here too, so a missing one stops the container before initdb rather than after.
readonly BOOTSTRAP_SECRETS=(MIGRATOR_PASSWORD APP_PASSWORD READONLY_PASSWORD BACKUP_PASSWORD MONITORING_PASSWORD)
# Needed only in the rendered file: kept out of the environment Patroni and PostgreSQL inherit.
readonly CONFIG_ONLY_SECRETS=(PG_SUPERUSER_PASSWORD PG_REPLICATION_PASSWORD PG_REWIND_PASSWORD
  PATRONI_RESTAPI_PASSWORD)

die() {
  echo "entrypoint: $*" >&2
  exit 1
}

read_secret_files() {
  local name file_var
  for name in "${SECRETS[@]}"; do
    file_var=${name}_FILE
    [[ -n ${!file_var:-} ]] || continue
    [[ -z ${!name:-} ]] || die "both $name and $file_var are set: give one"
    [[ -r ${!file_var} ]] || die "$file_var: cannot read ${!file_var}"
    # $(<file) drops the trailing newline secret files usually end with.
    printf -v "$name" '%s' "$(<"${!file_var}")"
    export "${name?}"
  done
}

# Values every member computes the same way; each can be overridden by the environment.
set_defaults() {
  : "${PATRONI_SCOPE:=swarmlab}"
  : "${PATRONI_NAME:=$HOSTNAME}"
  : "${PGDATA:=/var/lib/postgresql/data/pgdata}"
  : "${PG_SOCKET_DIR:=/run/postgresql}"
  : "${PATRONI_PGPASS:=$RUN_DIR/pgpass}"
  : "${PATRONI_POST_BOOTSTRAP:=/etc/swarmlab/post-bootstrap.sh}"
  : "${PG_ARCHIVE_COMMAND:=/bin/true}"
  : "${PG_LISTEN:=0.0.0.0:5432}"
  : "${PATRONI_RESTAPI_LISTEN:=0.0.0.0:8008}"
  # Where the other member and the router reach this one (Patroni publishes it in etcd): its host name on
  # the overlay network unless told otherwise.
  : "${PATRONI_CONNECT_HOST:=$HOSTNAME}"
  : "${PG_CONNECT_ADDRESS:=$PATRONI_CONNECT_HOST:${PG_LISTEN##*:}}"
  : "${PATRONI_RESTAPI_CONNECT_ADDRESS:=$PATRONI_CONNECT_HOST:${PATRONI_RESTAPI_LISTEN##*:}}"
}

# Prints the names of the ${NAME} placeholders of the template, one per line.
placeholders() {
  grep -oE '\$\{[A-Z_][A-Z0-9_]*\}' "$TEMPLATE" | tr -d '{}$' | sort -u
}

# True when a value cannot stand where the template puts it: a control character anywhere, or a quote inside
# a single-quoted YAML scalar ('${NAME}', as the passwords are).
unsafe_value() {
  local name=$1
  [[ ${!name} == *[[:cntrl:]]* ]] && return 0
  [[ ${!name} == *"'"* ]] && grep -qF "'\${$name}'" "$TEMPLATE"
}

check_values() {
  local name missing=() unsafe=()
  for name in "$@"; do
    if [[ -z ${!name:-} ]]; then
      missing+=("$name")
    elif unsafe_value "$name"; then
      unsafe+=("$name")
    fi
  done
  if ((${#missing[@]})); then
    die "unset or empty, needed by $TEMPLATE or post-bootstrap.sh: ${missing[*]}" \
      "(a secret may be given as NAME_FILE)"
  fi
  if ((${#unsafe[@]})); then
    die "a quote (') or a control character, which their place in $TEMPLATE cannot take, in: ${unsafe[*]}"
  fi
}

# envsubst sees only the template's own placeholders, so any other `$` in the file is left alone.
render() {
  local names=("$@") shell_format
  # shellcheck disable=SC2016 # a literal ${NAME} list, envsubst's SHELL-FORMAT
  shell_format=$(printf '${%s} ' "${names[@]}")
  mkdir -p "$RUN_DIR" "$PG_SOCKET_DIR" || die "cannot create $RUN_DIR or $PG_SOCKET_DIR as $(id -un)"
  (
    umask 077
    export "${names[@]}"
    envsubst "$shell_format" <"$TEMPLATE" >"$RENDERED"
  )
  chmod 600 "$RENDERED"
}

main() {
  local names
  read_secret_files
  set_defaults
  mapfile -t names < <(placeholders)
  ((${#names[@]})) || die "no \${NAME} placeholder found in $TEMPLATE"
  check_values "${names[@]}" "${BOOTSTRAP_SECRETS[@]}"
  render "${names[@]}"
  export -n "${CONFIG_ONLY_SECRETS[@]}"
  echo "entrypoint: $RENDERED rendered for member $PATRONI_NAME of $PATRONI_SCOPE; starting patroni" >&2
  exec patroni "$RENDERED"
}

main "$@"

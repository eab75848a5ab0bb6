#!/usr/bin/env bash
# Entrypoint of the postgres image: renders Patroni's configuration from the environment (secrets from
# NAME_FILE, as Docker secrets give them) and execs Patroni, which runs initdb or a base backup, PostgreSQL,
# leader election and failover. Fails before Patroni starts if a value that the template or
# post-bootstrap.sh needs is missing.
set -euo pipefail

readonly TEMPLATE=/etc/swarmlab/patroni.yml
readonly RUN_DIR=/run/swarmlab
readonly RENDERED=$RUN_DIR/patroni.yml
readonly PGBACKREST_TEMPLATE=/etc/swarmlab/pgbackrest.conf
readonly PGBACKREST_CONFIG=$RUN_DIR/pgbackrest.conf
# Secrets: each may be given as NAME or, better, as NAME_FILE (a file holding the value).
readonly SECRETS=(PG_SUPERUSER_PASSWORD PG_REPLICATION_PASSWORD PG_REWIND_PASSWORD PATRONI_RESTAPI_PASSWORD
  MIGRATOR_PASSWORD APP_PASSWORD READONLY_PASSWORD BACKUP_PASSWORD MONITORING_PASSWORD REPO_CIPHER_PASS)
# Not in the template: read by post-bootstrap.sh, which creates the roles on the cluster's first start. Checked
# here too, so a missing one stops the container before initdb rather than after.
readonly BOOTSTRAP_SECRETS=(MIGRATOR_PASSWORD APP_PASSWORD READONLY_PASSWORD BACKUP_PASSWORD MONITORING_PASSWORD)
# Needed only in the rendered file: kept out of the environment Patroni and PostgreSQL inherit.
readonly CONFIG_ONLY_SECRETS=(PG_SUPERUSER_PASSWORD PG_REPLICATION_PASSWORD PG_REWIND_PASSWORD
  PATRONI_RESTAPI_PASSWORD REPO_CIPHER_PASS)

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
  : "${PATRONI_CALLBACK:=/etc/swarmlab/on-leader.sh}"
  : "${PG_ARCHIVE_COMMAND:=/bin/true}"
  : "${PG_ARCHIVE_TIMEOUT:=60}"
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

# pgBackRest, when the stack gives this member a repository host (PGBACKREST_REPO_HOST, the `backup` service):
# the configuration archive_command uses, and the TLS server through which the repository host takes backups.
# PGBACKREST_* names are exported to envsubst only: pgBackRest reads such variables as options.
render_pgbackrest() {
  [[ -n ${REPO_HOST:-} ]] || return 0
  [[ -n ${REPO_CIPHER_PASS:-} ]] || die "REPO_HOST is set but REPO_CIPHER_PASS(_FILE) is not: the repository key is needed"
  local file cert=/run/secrets/pgbackrest_tls_cert key=/run/secrets/pgbackrest_tls_key ca=/run/secrets/lab_ca_cert
  for file in "$cert" "$key" "$ca"; do
    [[ -r $file ]] || die "cannot read $file, which pgBackRest's TLS needs (npm run secrets makes it)"
  done
  mkdir -p "$RUN_DIR/pgbackrest-log" "$RUN_DIR/pgbackrest-lock"
  (
    umask 077
    export PGBACKREST_REPO_HOST=$REPO_HOST PGBACKREST_REPO_TLS_PORT=8432 PGBACKREST_TLS_PORT=8432 \
      PGBACKREST_REPO_PATH=/var/lib/pgbackrest PGBACKREST_CIPHER_PASS=$REPO_CIPHER_PASS \
      PGBACKREST_TLS_CERT_FILE=$cert PGBACKREST_TLS_KEY_FILE=$key PGBACKREST_TLS_CA_FILE=$ca \
      PGBACKREST_LOG_PATH=$RUN_DIR/pgbackrest-log PGBACKREST_LOCK_PATH=$RUN_DIR/pgbackrest-lock \
      PGDATA PG_PORT=${PG_LISTEN##*:} PG_SOCKET_DIR PG_BACKUP_USER=backup
    envsubst <"$PGBACKREST_TEMPLATE" >"$PGBACKREST_CONFIG"
  )
  PG_ARCHIVE_COMMAND="pgbackrest --config=$PGBACKREST_CONFIG --stanza=swarmlab archive-push %p"
  export PG_ARCHIVE_COMMAND
}

start_pgbackrest_server() {
  [[ -n ${REPO_HOST:-} ]] || return 0
  # The repository host's requests connect to PostgreSQL over the local socket as the backup role.
  PGPASSWORD=$BACKUP_PASSWORD pgbackrest --config="$PGBACKREST_CONFIG" server &
  echo "entrypoint: pgBackRest TLS server on :8432; WAL archived to $REPO_HOST" >&2
}

# `entrypoint.sh restore PGBACKREST_RESTORE_OPTIONS...` (npm run db:restore -- --into cluster, with Patroni stopped
# on both members): restores the repository into a directory of its own next to the data directory, lets
# PostgreSQL replay WAL to the target and promote there, clears the recovery settings pgBackRest wrote, and stops.
# Only then does it forget the cluster in etcd and swap the directories (the old one is kept as
# $PGDATA.before-restore until the next restore). A restore that fails leaves the data directory and etcd as they
# were. The next Patroni start adopts the directory as the new leader. `entrypoint.sh wipe` empties the data
# directory (the other member, which then clones the new leader).
restore_member() {
  [[ -n ${REPO_HOST:-} ]] || die "restore needs REPO_HOST (the backup service)"
  local staging=$PGDATA.restoring previous=$PGDATA.before-restore
  rm -rf "$staging"
  install -d -m 700 "$staging"
  if ! restore_into "$staging" "$@"; then
    pg_ctl -D "$staging" -m immediate -w stop >/dev/null 2>&1 || true
    rm -rf "$staging"
    die "the restore failed (above); $PGDATA and the cluster's record in etcd are as they were"
  fi
  printf '%s\nYes I am aware\n' "$PATRONI_SCOPE" | patronictl -c "$RENDERED" remove "$PATRONI_SCOPE" >&2 ||
    die "patronictl remove $PATRONI_SCOPE failed (is etcd up?); $PGDATA is as it was, the restored copy is in $staging"
  rm -rf "$previous"
  if [[ -e $PGDATA ]]; then mv "$PGDATA" "$previous"; fi
  mv "$staging" "$PGDATA"
  echo "entrypoint: restored into $PGDATA; the data directory before the restore is kept as $previous" >&2
}

# Restores into the empty directory $1 (pgBackRest options after it), replays to the target, promotes and stops.
# hot_standby off: pg_ctl returns once recovery has ended. Archiving stays on (the new timeline's history file must
# reach the repository). The configuration's own file paths (Patroni's) would name the live data directory.
restore_into() {
  local dir=$1 setting
  shift
  pgbackrest --config="$PGBACKREST_CONFIG" --stanza=swarmlab --log-level-console=info restore --pg1-path="$dir" "$@" ||
    return 1
  pg_ctl -D "$dir" -w -t 3600 -o "-c listen_addresses='' -c unix_socket_directories=$PG_SOCKET_DIR \
-c hot_standby=off -c synchronous_standby_names='' -c hba_file=$dir/pg_hba.conf -c ident_file=$dir/pg_ident.conf" \
    start || return 1
  # pg_ctl may return before recovery has ended: wait until the instance is promoted and answers. A recovery that
  # cannot reach the target (WAL missing) ends with PostgreSQL stopping.
  until [[ $(psql -X -At -h "$PG_SOCKET_DIR" -U postgres -d postgres -c 'SELECT NOT pg_is_in_recovery()' 2>/dev/null) == t ]]; do
    pg_ctl -D "$dir" status >/dev/null || {
      echo "entrypoint: PostgreSQL stopped during recovery: the target is not reachable with the archived WAL" >&2
      return 1
    }
    sleep 1
  done
  for setting in restore_command recovery_target recovery_target_name recovery_target_time recovery_target_xid \
    recovery_target_lsn recovery_target_inclusive recovery_target_timeline recovery_target_action; do
    psql -X -q -h "$PG_SOCKET_DIR" -U postgres -d postgres -c "ALTER SYSTEM RESET $setting" || return 1
  done
  psql -X -At -h "$PG_SOCKET_DIR" -U postgres -d postgres \
    -c "SELECT 'entrypoint: restored, now on timeline ' || timeline_id FROM pg_control_checkpoint()" >&2 || true
  pg_ctl -D "$dir" -m fast -w stop
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
  local mode=${1:-run}
  read_secret_files
  set_defaults
  render_pgbackrest
  mapfile -t names < <(placeholders)
  ((${#names[@]})) || die "no \${NAME} placeholder found in $TEMPLATE"
  check_values "${names[@]}" "${BOOTSTRAP_SECRETS[@]}"
  render "${names[@]}"
  export -n "${CONFIG_ONLY_SECRETS[@]}"
  case $mode in
    run) ;;
    restore) shift && restore_member "$@" && exit 0 ;;
    wipe) rm -rf "$PGDATA" && echo "entrypoint: $PGDATA emptied; this member clones the leader at its next start" >&2 && exit 0 ;;
    *) die "unknown mode $mode: run (default), restore PGBACKREST_OPTIONS..., or wipe" ;;
  esac
  start_pgbackrest_server
  echo "entrypoint: $RENDERED rendered for member $PATRONI_NAME of $PATRONI_SCOPE; starting patroni" >&2
  exec patroni "$RENDERED"
}

main "$@"

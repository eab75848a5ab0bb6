#!/usr/bin/env bash
# Entrypoint of the backup image: renders pgBackRest's configuration (the repository's key from a Docker secret),
# starts pgBackRest's TLS server (the members push WAL to it; backups reach the members through it), and creates
# the stanza as soon as the PostgreSQL cluster answers. Values come from the environment; see docker-compose.yml.
set -euo pipefail

readonly TEMPLATES=/etc/swarmlab
# The root filesystem is read-only: what is rendered at start goes to the tmpfs /run/swarmlab, where the image's
# environment points pgBackRest (PGBACKREST_CONFIG, PGBACKREST_CONFIG_INCLUDE_PATH) and libpq (PGPASSFILE).
readonly RUN_DIR=/run/swarmlab
readonly CONFIG=${PGBACKREST_CONFIG:-$RUN_DIR/pgbackrest.conf}
readonly INCLUDE=${PGBACKREST_CONFIG_INCLUDE_PATH:-$RUN_DIR/conf.d}/repo-host.conf

die() {
  echo "entrypoint: $*" >&2
  exit 1
}

log() {
  jq -nc --arg event "$1" --arg message "$2" '{time: (now | todate), service: "backup", event: $event, message: $message}'
}

secret() {
  local file=$1
  [[ -r $file ]] || die "cannot read $file (a Docker secret of the backup service)"
  local value
  value=$(<"$file")
  [[ -n $value ]] || die "$file is empty"
  printf '%s' "$value"
}

# The values are exported to envsubst only: pgBackRest reads PGBACKREST_* variables as options.
render() {
  local cipher_pass key=$RUN_DIR/pgbackrest-tls.key
  mkdir -p "${INCLUDE%/*}" "$RUN_DIR/log" "$RUN_DIR/lock" || die "cannot write $RUN_DIR (a tmpfs in the stack)"
  cipher_pass=$(secret "${REPO_CIPHER_PASS_FILE:-/run/secrets/pgbackrest_cipher_pass}")
  # pgBackRest refuses a key readable by others; a copy of our own is 600 whatever mode the secret was given.
  install -m 600 /run/secrets/pgbackrest_tls_key "$key"
  (
    umask 077
    export PGBACKREST_REPO_PATH=/var/lib/pgbackrest PGBACKREST_CIPHER_PASS=$cipher_pass \
      PGBACKREST_LOG_PATH=$RUN_DIR/log PGBACKREST_LOCK_PATH=$RUN_DIR/lock \
      PGDATA=${MEMBER_PGDATA:-/var/lib/postgresql/data/pgdata} PG_PORT=5432 PG_SOCKET_DIR=/run/postgresql \
      PG_BACKUP_USER=backup PG2_PATH=${MEMBER_PGDATA:-/var/lib/postgresql/data/pgdata} \
      PGBACKREST_TLS_PORT=8432 PG1_TLS_PORT=8432 PG2_TLS_PORT=8432 \
      PG1_HOST=${PG1_HOST:-postgres1} PG2_HOST=${PG2_HOST:-postgres2} \
      PGBACKREST_TLS_CERT_FILE=/run/secrets/pgbackrest_tls_cert PGBACKREST_TLS_KEY_FILE=$key \
      PGBACKREST_TLS_CA_FILE=/run/secrets/lab_ca_cert
    envsubst <"$TEMPLATES/pgbackrest.conf" >"$CONFIG"
    envsubst <"$TEMPLATES/repo-host.conf" >"$INCLUDE"
  )
  # pg_dump and the drill's queries reach the primary through db-router as the backup role.
  (
    umask 077
    printf '*:*:*:backup:%s\n' "$(secret "${BACKUP_PASSWORD_FILE:-/run/secrets/backup_password}")" >"${PGPASSFILE:-$HOME/.pgpass}"
  )
}

# stanza-create is idempotent: it succeeds at once when the stanza exists and matches the cluster.
ensure_stanza() {
  local attempt=0 output
  until output=$(pgbackrest --stanza=swarmlab stanza-create 2>&1); do
    ((++attempt % 6 == 1)) && log stanza-waiting "stanza-create failed, retrying every 10 s: ${output//$'\n'/ }"
    sleep 10
  done
  log stanza-ready "stanza swarmlab ready (repository /var/lib/pgbackrest)"
}

main() {
  # A command given to the container (docker run IMAGE backup-job ...) runs instead of the service.
  if (($# > 0)); then exec "$@"; fi
  [[ -r /run/secrets/pgbackrest_tls_cert && -r /run/secrets/pgbackrest_tls_key && -r /run/secrets/lab_ca_cert ]] ||
    die "the secrets pgbackrest_tls_cert, pgbackrest_tls_key and lab_ca_cert must be mounted (npm run secrets makes them)"
  render
  pgbackrest server &
  local server=$!
  trap 'kill -TERM "$server" 2>/dev/null' TERM INT
  log started "pgBackRest TLS server on :8432, repository /var/lib/pgbackrest"
  ensure_stanza &
  wait "$server"
}

main "$@"

#!/usr/bin/env bash
# Patroni's callback (on_start, on_role_change; arguments: action, role, scope). On the leader, makes the database
# agree with this member's secrets: post-bootstrap.sh again (idempotent: every role's password, grants), and the
# passwords of Patroni's replication and rewind roles. So a rotated password (npm run secrets -- --rotate
# app_password, then npm run deploy, which restarts the members with the new secret) is changed in the database by
# whichever member leads next; the replicas get it by replication. Connects as the superuser over the local socket
# (peer; PGPORT when it is not 5432). Patroni does not wait for a callback: its outcome is in the member's log.
set -euo pipefail

readonly ROLE=${2:-}
here=$(dirname "$(readlink -f "$0")")

case $ROLE in
  primary | master) ;;
  *) exit 0 ;;
esac

url="postgresql:///postgres?host=${PG_SOCKET_DIR:-/run/postgresql}&user=postgres"
log() { echo "on-leader: $*" >&2; }

# Patroni calls on_role_change as it asks PostgreSQL to promote: wait until it is out of recovery (writable).
for ((waited = 0; ; waited++)); do
  [[ $(psql -X -At -d "$url" -c 'SELECT NOT pg_is_in_recovery()' 2>/dev/null) == t ]] && break
  if ((waited >= 120)); then
    log "PostgreSQL is still not writable after 120 s: the roles' passwords were not applied"
    exit 1
  fi
  sleep 1
done
# Warnings only: "already exists, skipping" on every leader change is not news.
export PGOPTIONS='-c client_min_messages=warning'
if ! "$here/post-bootstrap.sh" "$url" >/dev/null; then
  log "could not apply the roles' passwords (post-bootstrap.sh failed above)"
  exit 1
fi
# Patroni's own roles, when their secrets are files (the stack's Docker secrets): not in the environment.
for pair in replicator:PG_REPLICATION_PASSWORD_FILE rewinder:PG_REWIND_PASSWORD_FILE; do
  role=${pair%%:*} file_var=${pair#*:}
  [[ -r ${!file_var:-} ]] || continue
  PASSWORD=$(<"${!file_var}") psql -X -q -v ON_ERROR_STOP=1 -v role="$role" -d "$url" <<'SQL'
\getenv password PASSWORD
SELECT format('ALTER ROLE %I PASSWORD %L', :'role', :'password') \gexec
SQL
done
log "roles' passwords as this member's secrets say"

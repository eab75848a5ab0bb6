#!/usr/bin/env bash
# Patroni's post_bootstrap: runs once, on the first leader, right after initdb, with a superuser connection
# URL as $1. Creates the application database and the lab's roles. Passwords come from the environment
# (entrypoint.sh reads them from Docker secrets) and reach psql through \getenv, never a command line.
set -euo pipefail

here=$(dirname "$(readlink -f "$0")")
url=$1
database=${APP_DATABASE:-swarmlab}

for name in MIGRATOR_PASSWORD APP_PASSWORD READONLY_PASSWORD BACKUP_PASSWORD MONITORING_PASSWORD; do
  if [[ -z ${!name:-} ]]; then
    echo "post-bootstrap: $name is not set; every role needs its password" >&2
    exit 1
  fi
done

psql -X -q -v ON_ERROR_STOP=1 -v database="$database" -d "$url" <<SQL
\getenv backup_password BACKUP_PASSWORD
\getenv monitoring_password MONITORING_PASSWORD
\i $here/cluster-roles.sql
SELECT format('CREATE DATABASE %I', :'database')
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'database') \gexec
\connect :"database"
\getenv migrator_password MIGRATOR_PASSWORD
\getenv app_password APP_PASSWORD
\getenv readonly_password READONLY_PASSWORD
\i $here/roles.sql
-- roles.sql opens the database to its own roles only; pg_dump (backup) and per-database statistics
-- (monitoring) need to connect too. What they may read there is settled by cluster-roles.sql.
SELECT format('GRANT CONNECT ON DATABASE %I TO backup, monitoring', :'database') \gexec
SQL
echo "post-bootstrap: database $database and roles ready"

-- Cluster-wide service roles of the lab database. Idempotent. Run by a superuser, with psql variables
-- backup_password and monitoring_password (Patroni itself creates postgres, replicator and rewinder).
--   backup      pgBackRest and pg_dump: starts/stops backups, reads everything, writes nothing
--   monitoring  postgres-exporter: pg_monitor
\set ON_ERROR_STOP on

SELECT format('CREATE ROLE %I LOGIN', r) FROM unnest(ARRAY['backup', 'monitoring']) AS r
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = r) \gexec

ALTER ROLE backup LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'backup_password';
ALTER ROLE monitoring LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'monitoring_password';
ALTER ROLE backup SET default_transaction_read_only = on;

GRANT pg_read_all_data, pg_read_all_settings, pg_checkpoint, pg_signal_backend TO backup;
GRANT EXECUTE ON FUNCTION pg_backup_start(text, boolean), pg_backup_stop(boolean), pg_switch_wal(),
  pg_create_restore_point(text) TO backup;
GRANT pg_monitor TO monitoring;

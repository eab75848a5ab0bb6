-- Least-privilege roles and the application schema of the lab database. Idempotent.
-- Run by a superuser, connected to the application database:
--   psql -v ON_ERROR_STOP=1 -v migrator_password=... -v app_password=... -v readonly_password=... -f roles.sql
--
--   migrator  owns the schemas `app` and `migrations`: DDL, runs the SQL migrations (node-pg-migrate)
--   app       the API: DML on the tables of `app`, nothing else (no DDL, no other schema)
--   readonly  SELECT on the tables of `app`
\set ON_ERROR_STOP on

SELECT format('CREATE ROLE %I LOGIN', r) FROM unnest(ARRAY['migrator', 'app', 'readonly']) AS r
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = r) \gexec

ALTER ROLE migrator LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'migrator_password';
ALTER ROLE app LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'app_password';
ALTER ROLE readonly LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'readonly_password';
ALTER ROLE app SET search_path = app;
ALTER ROLE readonly SET search_path = app;
ALTER ROLE readonly SET default_transaction_read_only = on;

SELECT format('REVOKE ALL ON DATABASE %I FROM PUBLIC', current_database()) \gexec
SELECT format('GRANT CONNECT, TEMPORARY ON DATABASE %I TO migrator, app, readonly', current_database()) \gexec
REVOKE ALL ON SCHEMA public FROM PUBLIC;

CREATE SCHEMA IF NOT EXISTS app AUTHORIZATION migrator;
CREATE SCHEMA IF NOT EXISTS migrations AUTHORIZATION migrator;
REVOKE ALL ON SCHEMA app, migrations FROM PUBLIC;
GRANT USAGE ON SCHEMA app TO app, readonly;

-- Tables the migrator creates from now on, and those it already has.
ALTER DEFAULT PRIVILEGES FOR ROLE migrator IN SCHEMA app GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO app;
ALTER DEFAULT PRIVILEGES FOR ROLE migrator IN SCHEMA app GRANT USAGE, SELECT ON SEQUENCES TO app;
ALTER DEFAULT PRIVILEGES FOR ROLE migrator IN SCHEMA app GRANT SELECT ON TABLES TO readonly;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA app TO app;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA app TO app;
GRANT SELECT ON ALL TABLES IN SCHEMA app TO readonly;

#!/bin/sh
# Runs once, when the postgres container initialises an empty volume (/docker-entrypoint-initdb.d).
# The same roles as `brokerage services start` creates locally (ADR 008):
#   brokerage      owns the database and its schemas; runs the migrations (BROKERAGE_DATABASE_OWNER_URL)
#   brokerage_app  every process; no superuser, no CREATE anywhere; `brokerage db upgrade` grants it DML
# Passwords come from the environment and are read by psql's \getenv (never on a command line).
set -eu
: "${POSTGRES_OWNER_PASSWORD:?set POSTGRES_OWNER_PASSWORD}"
: "${POSTGRES_APP_PASSWORD:?set POSTGRES_APP_PASSWORD}"
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres <<'SQL'
\getenv owner_password POSTGRES_OWNER_PASSWORD
\getenv app_password POSTGRES_APP_PASSWORD
SET password_encryption = 'scram-sha-256';
CREATE ROLE brokerage LOGIN NOSUPERUSER CREATEDB NOCREATEROLE NOREPLICATION PASSWORD :'owner_password';
CREATE ROLE brokerage_app LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION PASSWORD :'app_password';
CREATE DATABASE brokerage OWNER brokerage;
REVOKE ALL ON DATABASE postgres FROM PUBLIC;
REVOKE ALL ON DATABASE brokerage FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE brokerage TO brokerage_app;
\connect brokerage
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
SQL

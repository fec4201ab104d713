#!/bin/sh
# On an empty data volume: a cluster with password authentication over TCP, the MLflow role and its two
# databases (runs and registry; users and permissions). Then PostgreSQL itself, as PID 1's child.
set -eu
: "${POSTGRES_PASSWORD:?is not set (deploy/stack.env)}" "${MLFLOW_DB_PASSWORD:?is not set (deploy/stack.env)}"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  password_file=$(mktemp)
  printf '%s' "$POSTGRES_PASSWORD" > "$password_file"
  initdb --pgdata "$PGDATA" --username postgres --pwfile "$password_file" --encoding UTF8 --locale C.UTF-8 \
    --auth-local peer --auth-host scram-sha-256 > /dev/null
  rm -f "$password_file"
  echo "listen_addresses = '*'" >> "$PGDATA/postgresql.conf"
  echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
  # A server on the socket only while the role and databases are made: nobody connects half-way.
  pg_ctl --pgdata "$PGDATA" --options "-c listen_addresses=''" --wait start > /dev/null
  psql --quiet --set ON_ERROR_STOP=1 --username postgres --dbname postgres \
    --set password="$MLFLOW_DB_PASSWORD" <<'SQL'
CREATE ROLE mlflow LOGIN PASSWORD :'password';
CREATE DATABASE mlflow OWNER mlflow;
CREATE DATABASE mlflow_auth OWNER mlflow;
SQL
  pg_ctl --pgdata "$PGDATA" --mode fast --wait stop > /dev/null
  echo "postgres: new cluster with the mlflow and mlflow_auth databases"
fi
exec postgres -D "$PGDATA"

#!/bin/bash
# Bootstrap Job of the postgresql role: waits for the read-write Service, then runs
# bootstrap-database.sql once per line of the databases file (name owner secret encoding
# lc_collate lc_ctype). Idempotent: a second run changes nothing.
# Environment: PGHOST, PGPORT, SQL_FILE, DATABASES_FILE, SUPERUSER_DIR (the mounted superuser
# Secret: username, password) and SECRETS_DIR (one directory per database Secret, key password).
set -euo pipefail

pgpass="$(mktemp)"
trap 'rm -f "$pgpass"' EXIT
chmod 0600 "$pgpass"
printf '*:*:*:%s:%s\n' "$(<"$SUPERUSER_DIR/username")" "$(sed 's/[\\:]/\\&/g' "$SUPERUSER_DIR/password")" > "$pgpass"
export PGPASSFILE="$pgpass" PGUSER="$(<"$SUPERUSER_DIR/username")" PGDATABASE=postgres PGCONNECT_TIMEOUT=5

until pg_isready --quiet; do
  echo "waiting for ${PGHOST}:${PGPORT}"
  sleep "${WAIT_SECONDS:-5}"
done

while read -r name owner secret encoding lc_collate lc_ctype; do
  [ -n "$name" ] || continue
  echo "database $name (owner $owner)"
  psql --no-psqlrc --quiet --file "$SQL_FILE" \
    --set dbname="$name" --set owner="$owner" --set password_file="$SECRETS_DIR/$secret/password" \
    --set encoding="$encoding" --set lc_collate="$lc_collate" --set lc_ctype="$lc_ctype"
done < "$DATABASES_FILE"
echo "bootstrap done"

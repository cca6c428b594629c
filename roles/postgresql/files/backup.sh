#!/bin/bash
# Logical backup of the pvc target: one pg_dump (custom format) per line of the databases file,
# each made as the database's owner (its mounted Secret), written under a temporary name and
# renamed when complete; dumps older than BACKUP_RETENTION_DAYS are deleted, the newest of each
# database always kept. Environment: PGHOST, PGPORT, DATABASES_FILE, SECRETS_DIR, BACKUP_DIR,
# BACKUP_RETENTION_DAYS.
set -euo pipefail

stamp="$(date -u +%Y%m%dT%H%M%SZ)"
pgpass="$(mktemp)"
trap 'rm -f "$pgpass"' EXIT
chmod 0600 "$pgpass"
export PGPASSFILE="$pgpass" PGCONNECT_TIMEOUT=10

while read -r name owner secret _; do
  [ -n "$name" ] || continue
  printf '*:*:%s:%s:%s\n' "$name" "$owner" "$(sed 's/[\\:]/\\&/g' "$SECRETS_DIR/$secret/password")" >> "$pgpass"
done < "$DATABASES_FILE"

while read -r name owner _; do
  [ -n "$name" ] || continue
  target="$BACKUP_DIR/$name-$stamp.dump"
  pg_dump --username="$owner" --dbname="$name" --format=custom --no-password --file="$target.partial"
  mv "$target.partial" "$target"
  echo "dumped $name to $target ($(stat -c %s "$target") bytes)"
  newest="$(ls -1 "$BACKUP_DIR/$name"-*.dump | sort | tail -n 1)"
  find "$BACKUP_DIR" -maxdepth 1 -name "$name-*.dump" -mtime "+$((BACKUP_RETENTION_DAYS - 1))" ! -path "$newest" -print -delete
  rm -f "$BACKUP_DIR/$name"-*.dump.partial
done < "$DATABASES_FILE"

#!/bin/bash
# Logical backup of the application databases from one synced member (the read Service):
# a consistent InnoDB snapshot (--single-transaction), gzip-checked, then renamed into place,
# so a file named *.sql.gz is always complete. Backups older than BACKUP_RETENTION_DAYS are
# removed; the newest one is always kept. Prints BACKUP_FILE=<name> for playbooks/backup.yml.
set -euo pipefail
# The password is a file of the mounted Secret; MYSQL_PWD keeps it off the command line.
MYSQL_PWD=$(<"$MARIADB_BACKUP_PASSWORD_FILE")
export MYSQL_PWD
stamp=$(date -u +%Y%m%dT%H%M%SZ)
name="${BACKUP_PREFIX}-${stamp}.sql.gz"
read -r -a databases <<<"$BACKUP_DATABASES"
mariadb-dump --host="$BACKUP_SOURCE_HOST" --user=backup --single-transaction --quick \
  --routines --triggers --events --hex-blob --databases "${databases[@]}" \
  | gzip -c >"/backup/$name.partial"
gzip -t "/backup/$name.partial"
mv "/backup/$name.partial" "/backup/$name"
find /backup -maxdepth 1 -name "${BACKUP_PREFIX}-*.sql.gz" -mtime "+${BACKUP_RETENTION_DAYS}" ! -name "$name" -print -delete
find /backup -maxdepth 1 -name '*.partial' -mmin +600 -delete
echo "BACKUP_FILE=$name"

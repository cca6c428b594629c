#!/bin/bash
# Restores one backup (a name under /backup, or "latest") into the running cluster through the
# writer Service: the statements replicate to every member through Galera. Tables in the
# backup are dropped and recreated; tables the backup does not contain are left alone.
set -euo pipefail
# The password is a file of the mounted Secret; MYSQL_PWD keeps it off the command line.
MYSQL_PWD=$(<"$MARIADB_RESTORE_PASSWORD_FILE")
export MYSQL_PWD
wanted=${1:-latest}
if [[ $wanted == latest ]]; then
  file=$(find /backup -maxdepth 1 -name "${BACKUP_PREFIX}-*.sql.gz" | sort | tail -n 1)
else
  file=/backup/$(basename "$wanted")
fi
if [[ -z $file || ! -f $file ]]; then
  echo "no backup ${wanted} under /backup" >&2
  exit 1
fi
gzip -t "$file"
echo "restoring $(basename "$file") into $BACKUP_WRITER_HOST"
gunzip -c "$file" | mariadb --host="$BACKUP_WRITER_HOST" --user=restore
echo "RESTORED_FILE=$(basename "$file")"

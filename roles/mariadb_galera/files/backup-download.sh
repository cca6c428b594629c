#!/bin/sh
# First step of a restore from the gcs target (rclone image): copies one backup (a name, or
# "latest" = the newest <prefix>-*.sql.gz of the bucket folder) into this pod's /backup, where
# restore.sh finds it. Prints DOWNLOADED=<name>.
set -eu
dir=${BACKUP_DIR:-/backup}
wanted=${1:-latest}
remote=":gcs:${BACKUP_BUCKET}/${BACKUP_BUCKET_PATH}"
if [ "$wanted" = latest ]; then
  wanted=$(rclone lsf "$remote" --files-only --include "${BACKUP_PREFIX}-*.sql.gz" | sort | tail -n 1)
fi
if [ -z "$wanted" ]; then
  echo "no backup ${BACKUP_PREFIX}-*.sql.gz in gs://${BACKUP_BUCKET}/${BACKUP_BUCKET_PATH}" >&2
  exit 1
fi
rclone copyto "$remote/$(basename "$wanted")" "$dir/$(basename "$wanted")"
echo "DOWNLOADED=$(basename "$wanted")"

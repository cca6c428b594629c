#!/bin/sh
# Second step of a backup with the gcs target (rclone image): copies the dump that the first
# step (backup.sh) wrote to this pod's /backup to gs://$BACKUP_BUCKET/$BACKUP_BUCKET_PATH/ with
# the bucket's own service account, then checks that the object has the file's size. Old
# backups are removed by the bucket's lifecycle rule, not here (the account cannot delete).
# Prints UPLOADED=gs://... for playbooks/backup.yml.
set -eu
file=$(find /backup -maxdepth 1 -name "${BACKUP_PREFIX}-*.sql.gz" | sort | tail -n 1)
if [ -z "$file" ]; then
  echo "no ${BACKUP_PREFIX}-*.sql.gz under /backup: the dump step wrote nothing" >&2
  exit 1
fi
name=$(basename "$file")
remote=":gcs:${BACKUP_BUCKET}/${BACKUP_BUCKET_PATH}"
rclone copyto "$file" "$remote/$name"
rclone check --one-way --size-only "$file" "$remote/$name" 2>/dev/null || rclone lsl "$remote/$name"
echo "UPLOADED=gs://${BACKUP_BUCKET}/${BACKUP_BUCKET_PATH}/$name"

#!/bin/sh
# Second step of a backup with the gcs target (rclone image): copies the dump that the first
# step (backup.sh) wrote to this pod's /backup to gs://$BACKUP_BUCKET/$BACKUP_BUCKET_PATH/ with
# the bucket's own service account, then checks that the object has the file's size. Old
# backups are removed by the bucket's lifecycle rule, not here (the account cannot delete).
# Prints UPLOADED=gs://... for playbooks/backup.yml.
set -eu
dir=${BACKUP_DIR:-/backup}
file=$(find "$dir" -maxdepth 1 -name "${BACKUP_PREFIX}-*.sql.gz" | sort | tail -n 1)
if [ -z "$file" ]; then
  echo "no ${BACKUP_PREFIX}-*.sql.gz under $dir: the dump step wrote nothing" >&2
  exit 1
fi
name=$(basename "$file")
remote=":gcs:${BACKUP_BUCKET}/${BACKUP_BUCKET_PATH}"
rclone copyto "$file" "$remote/$name"
local_size=$(stat -c %s "$file")
remote_size=$(rclone lsf --format s "$remote/$name")
if [ "$remote_size" != "$local_size" ]; then
  echo "gs://${BACKUP_BUCKET}/${BACKUP_BUCKET_PATH}/$name has ${remote_size:-no} bytes, the dump $local_size" >&2
  exit 1
fi
echo "UPLOADED=gs://${BACKUP_BUCKET}/${BACKUP_BUCKET_PATH}/$name"

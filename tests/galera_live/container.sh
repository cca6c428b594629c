#!/bin/bash
# Runs one container of the live Galera harness, inside the network namespace that
# `ip netns exec` entered (which also gave the process a private mount namespace and bound
# /etc/netns/<name>/hosts over /etc/hosts): the pod's volumes are bind-mounted where the pod spec
# mounts them, the image's own paths are stand-ins on tmpfs (the image directory of the harness),
# the root filesystem is made read-only, and the container command runs as the mysql user
# with exactly the environment given (as the kubelet would, with readOnlyRootFilesystem).
#   container.sh MOUNTS ENVIRONMENT IMAGE_DIR -- COMMAND...
# MOUNTS: lines "source<TAB>target<TAB>ro|rw"; ENVIRONMENT: lines NAME=VALUE.
set -euo pipefail
mounts=$1 environment_file=$2 image=$3
shift 4
mount --make-rprivate /
for dir in /run /opt /etc/mysql /usr/local/bin; do
  mount -t tmpfs -o mode=0755,size=16m tmpfs "$dir"
done
cp "$image/my.cnf" /etc/mysql/my.cnf
mkdir -p /etc/mysql/conf.d
cp "$image/docker-entrypoint.sh" /usr/local/bin/docker-entrypoint.sh
while IFS=$'\t' read -r source target mode; do
  if [[ -f $source ]]; then
    mkdir -p "$(dirname "$target")"
    [[ -e $target ]] || : >"$target"
  else
    mkdir -p "$target"
  fi
  mount --bind "$source" "$target"
  if [[ $mode == ro ]]; then
    mount -o remount,bind,ro "$target"
  fi
done <"$mounts"
mount -o remount,bind,ro /
mapfile -t environment <"$environment_file"
exec setpriv --reuid=mysql --regid=mysql --clear-groups -- env -i "${environment[@]}" "$@"

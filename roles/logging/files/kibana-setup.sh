#!/bin/bash
# Idempotent provisioning of Kibana's data view of the platform's logs through Kibana's API
# (override: an existing data view of the same id is replaced by the same definition).
set -euo pipefail
here=$(dirname "$0")
# shellcheck source=/dev/null
. "$here/names.env"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
host=${KIBANA_URL#http://}
host=${host%%:*}
printf 'machine %s login elastic password %s\n' "$host" "$(cat "$SECRETS/elastic")" >"$work/netrc"

for attempt in $(seq 1 90); do
  if curl --silent --fail --netrc-file "$work/netrc" "$KIBANA_URL/api/status" >/dev/null; then
    break
  fi
  echo "waiting for Kibana (attempt $attempt)"
  [ "$attempt" = 90 ] && { echo "Kibana did not answer" >&2; exit 1; }
  sleep 5
done

curl --silent --show-error --fail --netrc-file "$work/netrc" -X POST \
  -H 'Content-Type: application/json' -H 'kbn-xsrf: orchestrate-platform' \
  --data-binary "@$here/data-view.json" "$KIBANA_URL/api/data_views/data_view"
echo
echo "data view provisioned"

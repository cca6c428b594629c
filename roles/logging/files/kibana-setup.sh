#!/bin/bash
# Idempotent provisioning of Kibana's data view of the platform's logs through Kibana's API
# (override: an existing data view of the same id is replaced by the same definition).
set -euo pipefail
here=$(dirname "$0")
# shellcheck source=logging-setup-lib.sh
. "$here/logging-setup-lib.sh"
as_elastic "$KIBANA_URL"

wait_for Kibana 90 "$KIBANA_URL/api/status" "Kibana did not answer"

send POST "$KIBANA_URL/api/data_views/data_view" "$here/data-view.json" -H 'kbn-xsrf: orchestrate-platform'
echo "data view provisioned"

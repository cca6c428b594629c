#!/bin/bash
# Idempotent setup of the log cluster through Elasticsearch's REST API, run by the setup Job
# with the elastic user: the index lifecycle policy, the index template of the log data stream,
# the least-privilege roles, the kibana_system password and the users of Fluent Bit and the
# exporter. Every call is a PUT/POST of the whole desired object: a re-run changes nothing.
set -euo pipefail
here=$(dirname "$0")
# shellcheck source=logging-setup-lib.sh
. "$here/logging-setup-lib.sh"
as_elastic "$ES_URL"

call() {  # METHOD PATH FILE
  send "$1" "$ES_URL$2" "$3"
}

password_body() {  # KEY [ROLE]: the JSON body of a user with the password of the Secret's KEY
  local password
  password=$(cat "$SECRETS/$1")
  if [ -n "${2:-}" ]; then
    printf '{"password":"%s","roles":["%s"]}' "$password" "$2"
  else
    printf '{"password":"%s"}' "$password"
  fi
}

wait_for "the cluster" 60 "$ES_URL/_cluster/health?wait_for_status=yellow&timeout=10s" "the cluster did not become yellow or green"

call PUT "/_ilm/policy/$ILM_POLICY" "$here/ilm-policy.json"
call PUT "/_index_template/$INDEX_TEMPLATE" "$here/index-template.json"
for file in "$here"/role-*.json; do
  name=$(basename "$file" .json)
  call PUT "/_security/role/${name#role-}" "$file"
done
password_body kibana-system >"$work/body"
call POST /_security/user/kibana_system/_password "$work/body"
while read -r user role key; do
  [ -n "$user" ] || continue
  password_body "$key" "$role" >"$work/body"
  call PUT "/_security/user/$user" "$work/body"
done <"$here/users.txt"
echo "setup done"

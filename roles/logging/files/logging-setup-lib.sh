#!/bin/bash
# Sourced by elasticsearch-setup.sh and kibana-setup.sh (both in the logging-setup ConfigMap,
# next to this file): the names of that ConfigMap, a private work directory, and curl as the
# elastic user, whose password goes from its Secret file into a netrc file, never into argv or
# the environment; an https URL is verified against the role's CA.
# shellcheck source=/dev/null
. "$here/names.env"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

as_elastic() {  # URL: the elastic user's netrc for the host of URL
  local host=${1#*://}
  host=${host%%[:/]*}
  printf 'machine %s login elastic password %s\n' "$host" "$(cat "$SECRETS/elastic")" >"$work/netrc"
}

request() {  # CURL ARGS...: curl as the elastic user, failing on an HTTP error
  curl --silent --fail --cacert "$CA_FILE" --netrc-file "$work/netrc" "$@"
}

send() {  # METHOD URL FILE [CURL ARGS...]: FILE as the JSON body, the answer printed
  request --show-error -X "$1" -H 'Content-Type: application/json' "${@:4}" --data-binary "@$3" "$2"
  echo
}

wait_for() {  # WHAT ATTEMPTS URL FAILURE: GET URL every 5 s until it answers; FAILURE after ATTEMPTS tries
  local attempt
  for attempt in $(seq 1 "$2"); do
    if request "$3" >/dev/null; then
      return 0
    fi
    echo "waiting for $1 (attempt $attempt)"
    [ "$attempt" = "$2" ] && { echo "$4" >&2; exit 1; }
    sleep 5
  done
}

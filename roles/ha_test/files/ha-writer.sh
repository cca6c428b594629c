#!/bin/bash
# Numbered writes to MariaDB for the HA test, each printed as one JSON line with its
# acknowledgement (see plugins/module_utils/ha_probe.py, Write); when the stop file appears or
# WRITER_COUNT writes are done, every row of this run is read back and printed (ReadBack).
# Times: the monotonic clock is /proc/uptime (it never steps), the wall clock only labels.
# The password is a file of the mounted Secret (letters and digits, no quoting needed).
set -u
export MYSQL_PWD
MYSQL_PWD=$(<"$WRITER_PASSWORD_FILE")

query() {
  timeout "$WRITER_TIMEOUT" mariadb --connect-timeout="$WRITER_TIMEOUT" --host="$WRITER_HOST" --port="$WRITER_PORT" \
    --user="$WRITER_USER" --database="$WRITER_DATABASE" --batch --skip-column-names --execute="$1"
}

mono() { local up _; read -r up _ </proc/uptime; printf '%s' "$up"; }

# An error message as a JSON string: one line, no quotes or backslashes.
json_text() { printf '"%s"' "$(printf '%s' "$1" | tr '\n"\\' '   ' | cut -c1-200)"; }

ready=false
for ((try = 0; try < WRITER_SETUP_TRIES; try++)); do
  if query "CREATE TABLE IF NOT EXISTS writes (run VARCHAR(64) NOT NULL, seq INT NOT NULL, PRIMARY KEY (run, seq))"; then
    ready=true
    break
  fi
  sleep 1
done
$ready || { echo "ha-writer: the writes table could not be created in $WRITER_SETUP_TRIES tries" >&2; exit 1; }

for ((seq = 0; seq < WRITER_COUNT; seq++)); do
  [[ -e $WRITER_STOP_FILE ]] && break
  start=$(mono)
  wall=$(date +%s.%N)
  if error=$(query "INSERT INTO writes (run, seq) VALUES ('$WRITER_RUN', $seq)" 2>&1); then ok=true; error=""; else ok=false; fi
  end=$(mono)
  printf '{"kind": "write", "target": "%s", "seq": %d, "mono": %s, "wall": %s, "latency": %s, "ok": %s, "error": %s}\n' \
    "$WRITER_TARGET" "$seq" "$start" "$wall" "$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f", b - a }')" \
    "$ok" "$(json_text "$error")"
  sleep "$WRITER_INTERVAL"
done

for ((try = 0; try < WRITER_READBACK_TRIES; try++)); do
  if seqs=$(query "SET SESSION group_concat_max_len = 16777216;
                   SELECT COALESCE(GROUP_CONCAT(seq ORDER BY seq SEPARATOR ','), '') FROM writes WHERE run = '$WRITER_RUN'"); then
    printf '{"kind": "readback", "target": "%s", "seqs": [%s], "mono": %s, "wall": %s}\n' \
      "$WRITER_TARGET" "$seqs" "$(mono)" "$(date +%s.%N)"
    exit 0
  fi
  sleep 2
done
echo "ha-writer: no read-back after $WRITER_READBACK_TRIES tries" >&2
exit 1

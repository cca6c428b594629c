#!/bin/bash
# Probes of a MariaDB Galera member.
#   ready    the member is synced and takes queries: wsrep_ready ON and state Synced
#   alive    mariadbd answers a ping, or a state transfer (SST) is running: a joiner receiving
#            a snapshot does not answer for minutes and must not be killed for it
#   report   one JSON line: entry phase, the state published for the bootstrap decision and
#            the wsrep status (playbooks/galera_recover.yml reads it)
#   force-bootstrap [why]   make this waiting member bootstrap (operator decision, see the runbook)
set -uo pipefail
export MYSQL_PWD=${MARIADB_ROOT_PASSWORD:-}
DATADIR=${GALERA_DATADIR:-/var/lib/mysql}
RUNDIR=${GALERA_RUN_DIR:-/run/mysqld}

case ${1:-} in
  ready)
    status=$(mariadb --protocol=socket -uroot -N -B -e \
      "SHOW GLOBAL STATUS WHERE Variable_name IN ('wsrep_ready', 'wsrep_local_state_comment')" 2>/dev/null) || exit 1
    grep -qx $'wsrep_ready\tON' <<<"$status" && grep -qx $'wsrep_local_state_comment\tSynced' <<<"$status"
    ;;
  alive)
    mariadb-admin --protocol=socket -uroot ping >/dev/null 2>&1 && exit 0
    [[ -d $DATADIR/.sst ]] && exit 0
    exit 1
    ;;
  report)
    phase=$(cat "$RUNDIR/galera-phase" 2>/dev/null || echo none)
    name="" uuid="" seqno="" safe=""
    read -r name uuid seqno safe _ <"$RUNDIR/galera-state" 2>/dev/null || true
    status=$(mariadb --protocol=socket -uroot -N -B -e "SHOW GLOBAL STATUS WHERE Variable_name IN \
      ('wsrep_cluster_status', 'wsrep_local_state_comment', 'wsrep_cluster_size', 'wsrep_ready', 'wsrep_last_committed')" \
      2>/dev/null | awk -F '\t' '{ printf "%s\"%s\": \"%s\"", (NR > 1 ? ", " : ""), $1, $2 }')
    printf '{"pod": "%s", "phase": "%s", "name": "%s", "uuid": "%s", "seqno": "%s", "safe_to_bootstrap": "%s", "status": {%s}}\n' \
      "${POD_NAME:-$HOSTNAME}" "$phase" "$name" "$uuid" "$seqno" "$safe" "$status"
    ;;
  force-bootstrap)
    if [[ $(cat "$RUNDIR/galera-phase" 2>/dev/null) != exchange ]]; then
      echo "this member is not waiting for peers (phase $(cat "$RUNDIR/galera-phase" 2>/dev/null || echo none))" >&2
      exit 1
    fi
    echo "${2:-operator}" >"$RUNDIR/galera-force-bootstrap"
    ;;
  *)
    echo "usage: $0 ready|alive|report|force-bootstrap [why]" >&2
    exit 2
    ;;
esac

#!/bin/bash
# Probes of a MariaDB Galera member.
#   ready    the member is synced and takes queries: wsrep_ready ON and state Synced
#   alive    mariadbd answers a ping and is in the primary component, or left it less than
#            GALERA_LIVENESS_GRACE seconds ago; or a state transfer (SST) is running: a joiner
#            receiving a snapshot does not answer for minutes and must not be killed for it.
#            A member that answers but stays outside the primary component (a failed IST leaves
#            it Initialized, a partition leaves it non-Primary) fails after the grace period,
#            so the kubelet restarts it into the entry logic (galera-start.sh) again.
#   report   one JSON line: entry phase, the state published for the bootstrap decision and
#            the wsrep status (playbooks/galera_recover.yml reads it)
#   force-bootstrap [why]   make this waiting member bootstrap (operator decision, see the runbook)
# The root password is a file of the mounted Secret (MARIADB_ROOT_PASSWORD_FILE).
set -uo pipefail
MYSQL_PWD=$(cat "${MARIADB_ROOT_PASSWORD_FILE:-/dev/null}" 2>/dev/null)
export MYSQL_PWD
DATADIR=${GALERA_DATADIR:-/var/lib/mysql}
RUNDIR=${GALERA_RUN_DIR:-/run/mysqld}
GRACE=${GALERA_LIVENESS_GRACE:-120}
UNJOINED_FILE=$RUNDIR/galera-unjoined-since

wsrep_status() {
  mariadb --protocol=socket -uroot -N -B -e "SHOW GLOBAL STATUS WHERE Variable_name IN ($1)" 2>/dev/null
}

case ${1:-} in
  ready)
    status=$(wsrep_status "'wsrep_ready', 'wsrep_local_state_comment'") || exit 1
    grep -qx $'wsrep_ready\tON' <<<"$status" && grep -qx $'wsrep_local_state_comment\tSynced' <<<"$status"
    ;;
  alive)
    if ! mariadb-admin --protocol=socket -uroot ping >/dev/null 2>&1; then
      [[ -d $DATADIR/.sst ]] && exit 0
      exit 1
    fi
    status=$(wsrep_status "'wsrep_cluster_status', 'wsrep_local_state_comment'") || exit 1
    if grep -qx $'wsrep_cluster_status\tPrimary' <<<"$status" && ! grep -qx $'wsrep_local_state_comment\tInitialized' <<<"$status"; then
      rm -f "$UNJOINED_FILE"
      exit 0
    fi
    now=$(date +%s)
    since=$(cat "$UNJOINED_FILE" 2>/dev/null) || since=""
    if [[ ! $since =~ ^[0-9]+$ ]]; then
      since=$now
      echo "$since" >"$UNJOINED_FILE"
    fi
    if ((now - since < GRACE)); then
      exit 0
    fi
    echo "running outside the primary component for $((now - since)) s (grace ${GRACE} s): $(tr '\t\n' '= ' <<<"$status")" >&2
    exit 1
    ;;
  report)
    phase=$(cat "$RUNDIR/galera-phase" 2>/dev/null || echo none)
    name="" uuid="" seqno="" safe="" known=""
    read -r name uuid seqno safe known _ <"$RUNDIR/galera-state" 2>/dev/null || true
    status=$(wsrep_status "'wsrep_cluster_status', 'wsrep_local_state_comment', 'wsrep_cluster_size', 'wsrep_ready', \
      'wsrep_last_committed', 'wsrep_cluster_state_uuid'" | awk -F '\t' '{ printf "%s\"%s\": \"%s\"", (NR > 1 ? ", " : ""), $1, $2 }')
    printf '{"pod": "%s", "phase": "%s", "name": "%s", "uuid": "%s", "seqno": "%s", "safe_to_bootstrap": "%s", "position_known": "%s", "status": {%s}}\n' \
      "${POD_NAME:-$HOSTNAME}" "$phase" "$name" "$uuid" "$seqno" "$safe" "${known:-1}" "$status"
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

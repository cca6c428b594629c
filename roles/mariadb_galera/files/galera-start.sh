#!/bin/bash
# Entry logic of one MariaDB Galera member (container command of the StatefulSet).
#
# 1. If another member already runs Galera (port 4567 answers), join it: IST or SST brings
#    this member up to date.
# 2. Otherwise no cluster is running (first start, or a full outage). Every member publishes
#    its state ("name uuid seqno safe_to_bootstrap", seqno from --wsrep-recover after a crash)
#    on the SST port while it waits, and reads the others'. Once every member has reported,
#    all of them compute the same choice with the same rule: one cluster history only; the
#    highest seqno; then safe_to_bootstrap: 1; then the lowest ordinal. The chosen member
#    bootstraps (--wsrep-new-cluster), the others see its port 4567 open and join.
# 3. An operator may force a bootstrap on one member (playbooks/galera_recover.yml writes
#    $FORCE_FILE) when a member is gone for good and the others must not wait for it.
#
# The rule is the one of galera_bootstrap_candidate in plugins/filter/galera.py;
# tests/unit/test_galera_filters.py runs choose_bootstrap below on the same cases.
# Sourcing this file (tests) defines the functions without running main.
set -euo pipefail

DATADIR=${GALERA_DATADIR:-/var/lib/mysql}
RUNDIR=${GALERA_RUN_DIR:-/run/mysqld}
STATE_FILE=$RUNDIR/galera-state
PHASE_FILE=$RUNDIR/galera-phase
FORCE_FILE=$RUNDIR/galera-force-bootstrap
CONF_DIR=$RUNDIR/conf.d
EXCHANGE_PORT=${GALERA_EXCHANGE_PORT:-4444}
GCOMM_PORT=${GALERA_GCOMM_PORT:-4567}
POLL_SECONDS=${GALERA_POLL_SECONDS:-5}
ZERO_UUID=00000000-0000-0000-0000-000000000000
EXCHANGE_PID=""

log() { printf '%s galera-start[%s]: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "${POD_NAME:-?}" "$*" >&2; }

# The StatefulSet ordinal at the end of a member name; large when there is none.
ordinal() {
  local n=${1##*-}
  if [[ $n =~ ^[0-9]+$ ]]; then echo "$n"; else echo 1073741824; fi
}

# ranks_higher S1 F1 O1 N1 S2 F2 O2 N2: member 1 (seqno, safe flag, ordinal, name) ranks before member 2.
ranks_higher() {
  if (($1 != $5)); then (($1 > $5)); return; fi
  if (($2 != $6)); then (($2 > $6)); return; fi
  if (($3 != $7)); then (($3 < $7)); return; fi
  [[ $4 < $8 ]]
}

# choose_bootstrap: reads "name uuid seqno safe_to_bootstrap" lines, prints the member that
# bootstraps, or "ERROR <why>" when the members belong to different cluster histories.
choose_bootstrap() {
  local name uuid seqno safe histories=" " best="" best_key=()
  while read -r name uuid seqno safe _; do
    [[ -n ${name:-} ]] || continue
    [[ ${seqno:-} =~ ^-?[0-9]+$ ]] || seqno=-1
    [[ ${safe:-} == 1 ]] || safe=0
    uuid=${uuid,,}
    if [[ -n $uuid && $uuid != "$ZERO_UUID" && $histories != *" $uuid "* ]]; then
      histories="$histories$uuid "
    fi
    if [[ -z $best ]] || ranks_higher "$seqno" "$safe" "$(ordinal "$name")" "$name" "${best_key[@]}"; then
      best=$name
      best_key=("$seqno" "$safe" "$(ordinal "$name")" "$name")
    fi
  done
  local count
  count=$(wc -w <<<"$histories")
  if ((count > 1)); then
    echo "ERROR members belong to different cluster histories:$histories"
  elif [[ -z $best ]]; then
    echo "ERROR no member reported a state"
  else
    echo "$best"
  fi
}

grastate_field() {
  [[ -f $DATADIR/grastate.dat ]] || return 0
  sed -n "s/^$1:[[:space:]]*//p" "$DATADIR/grastate.dat" 2>/dev/null | head -n 1
}

# This member's state line. A crash leaves seqno -1 in grastate.dat: the committed position
# is then recovered from the InnoDB redo log with mariadbd --wsrep-recover.
local_state() {
  local uuid seqno safe position
  uuid=$(grastate_field uuid)
  seqno=$(grastate_field seqno)
  safe=$(grastate_field safe_to_bootstrap)
  uuid=${uuid:-$ZERO_UUID}
  seqno=${seqno:--1}
  if [[ $seqno == -1 && -d $DATADIR/mysql ]]; then
    log "grastate.dat has no seqno (unclean shutdown): recovering the position with --wsrep-recover"
    mariadbd --wsrep-recover --log-error="$RUNDIR/wsrep-recover.log" >/dev/null 2>&1 || true
    position=$(grep -o 'WSREP: Recovered position:\? *[0-9a-f-]\{36\}:-\?[0-9]\+' "$RUNDIR/wsrep-recover.log" 2>/dev/null | tail -n 1 || true)
    position=${position##* }
    if [[ -n $position ]]; then
      uuid=${position%:*}
      seqno=${position##*:}
    fi
  fi
  echo "$POD_NAME $uuid $seqno ${safe:-0}"
}

member_host() { echo "$1.$GALERA_SERVICE.$POD_NAMESPACE.svc.$GALERA_CLUSTER_DOMAIN"; }

members() {
  local i
  for ((i = 0; i < GALERA_REPLICAS; i++)); do echo "$GALERA_STATEFULSET-$i"; done
}

port_open() { timeout 2 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null; }

read_state() { timeout 3 bash -c "exec 3<>/dev/tcp/$1/$EXCHANGE_PORT && head -n 1 <&3" 2>/dev/null; }

write_runtime_config() {
  local addresses=() member
  for member in $(members); do addresses+=("$(member_host "$member")"); done
  mkdir -p "$CONF_DIR"
  (
    umask 077
    {
      echo "[mariadb]"
      echo "wsrep_node_name=$POD_NAME"
      echo "wsrep_node_address=$POD_IP"
      echo "wsrep_cluster_address=gcomm://$(IFS=,; echo "${addresses[*]}")"
      echo "wsrep_sst_auth=mariabackup:$GALERA_SST_PASSWORD"
    } >"$CONF_DIR/99-runtime.cnf"
  )
}

stop_exchange() {
  if [[ -n $EXCHANGE_PID ]]; then
    kill "$EXCHANGE_PID" 2>/dev/null || true
    wait "$EXCHANGE_PID" 2>/dev/null || true
    EXCHANGE_PID=""
  fi
}

start_mariadb() {
  stop_exchange
  trap - TERM INT
  echo "$1" >"$PHASE_FILE"
  shift
  exec docker-entrypoint.sh mariadbd "$@"
}

bootstrap() {
  log "bootstrapping a new primary component: $1"
  if [[ -f $DATADIR/grastate.dat ]]; then
    sed -i 's/^safe_to_bootstrap:.*/safe_to_bootstrap: 1/' "$DATADIR/grastate.dat"
  fi
  start_mariadb bootstrap --wsrep-new-cluster
}

running_peer() {
  local member
  for member in $(members); do
    [[ $member != "$POD_NAME" ]] || continue
    if port_open "$(member_host "$member")" "$GCOMM_PORT"; then
      echo "$member"
      return 0
    fi
  done
  return 1
}

main() {
  local peer state states reported member line choice
  # PID 1 while waiting: leave promptly when the pod is deleted.
  trap 'stop_exchange; exit 0' TERM INT
  write_runtime_config
  echo exchange >"$PHASE_FILE"
  rm -f "$FORCE_FILE"
  if peer=$(running_peer); then
    log "$peer runs Galera: joining the cluster"
    start_mariadb join
  fi
  state=$(local_state)
  echo "$state" >"$STATE_FILE"
  log "no running member found; my state: $state"
  socat -T 5 "TCP-LISTEN:$EXCHANGE_PORT,bind=$POD_IP,reuseaddr,fork" "SYSTEM:cat $STATE_FILE" &
  EXCHANGE_PID=$!
  while true; do
    if peer=$(running_peer); then
      log "$peer runs Galera: joining the cluster"
      start_mariadb join
    fi
    if [[ -f $FORCE_FILE ]]; then
      bootstrap "forced by an operator ($(cat "$FORCE_FILE"))"
    fi
    states=$state
    reported=1
    for member in $(members); do
      [[ $member != "$POD_NAME" ]] || continue
      line=$(read_state "$(member_host "$member")" || true)
      if [[ ${line%% *} == "$member" ]]; then
        states+=$'\n'$line
        reported=$((reported + 1))
      fi
    done
    if ((reported == GALERA_REPLICAS)); then
      choice=$(choose_bootstrap <<<"$states")
      if [[ $choice == ERROR* ]]; then
        log "cannot decide automatically: ${choice#ERROR } (see docs/runbooks/galera-recovery.md)"
      elif [[ $choice == "$POD_NAME" ]]; then
        bootstrap "every member reported and this one has the most recent state"
      else
        log "every member reported; waiting for $choice to bootstrap"
      fi
    else
      log "no running member; $reported of $GALERA_REPLICAS members reported their state, waiting for the others"
    fi
    sleep "$POLL_SECONDS"
  done
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  main "$@"
fi

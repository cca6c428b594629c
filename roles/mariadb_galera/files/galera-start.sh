#!/bin/bash
# Entry logic of one MariaDB Galera member (container command of the StatefulSet).
#
# 1. The member establishes its own position first: uuid and seqno from grastate.dat, or, after
#    a crash (seqno -1 there), from the InnoDB redo log with mariadbd --wsrep-recover. The
#    recovered position is handed to mariadbd (--wsrep_start_position), so that the member keeps
#    the cluster history and asks for IST instead of a full SST.
# 2. If another member already runs Galera (port 4567 answers), it joins it: IST or SST brings
#    this member up to date.
# 3. Otherwise no cluster is running (first start, or a full outage). Every member publishes
#    its state ("name uuid seqno safe_to_bootstrap position_known") on the SST port while it
#    waits, and reads the others'. Once every member has reported, all of them compute the same
#    choice with the same rule: one cluster history only; no member whose position is unknown
#    (it may hold the newest commits: fail closed, wait and say why); the highest seqno; then
#    safe_to_bootstrap: 1; then the lowest ordinal. The chosen member bootstraps
#    (--wsrep-new-cluster), the others see its port 4567 open and join.
# 4. An operator may force a bootstrap on one member (playbooks/galera_recover.yml runs
#    `galera-probe.sh force-bootstrap`, which writes $FORCE_FILE) when a member is gone for
#    good or its position cannot be recovered, and the others must not wait for it.
#
# Passwords are files of the mounted Secret (*_PASSWORD_FILE). The rule is the one of
# galera_bootstrap_candidate in plugins/filter/galera.py; tests/unit/test_galera_filters.py runs
# choose_bootstrap below on the same cases, and tests/galera_live runs this script unchanged on
# live MariaDB members. Sourcing this file (tests) defines the functions without running main.
set -euo pipefail

DATADIR=${GALERA_DATADIR:-/var/lib/mysql}
RUNDIR=${GALERA_RUN_DIR:-/run/mysqld}
STATE_FILE=$RUNDIR/galera-state
PHASE_FILE=$RUNDIR/galera-phase
FORCE_FILE=$RUNDIR/galera-force-bootstrap
RECOVER_LOG=$RUNDIR/wsrep-recover.log
UNJOINED_FILE=$RUNDIR/galera-unjoined-since
CONF_DIR=$RUNDIR/conf.d
RUNTIME_CNF=$CONF_DIR/99-runtime.cnf
EXCHANGE_PORT=${GALERA_EXCHANGE_PORT:-4444}
GCOMM_PORT=${GALERA_GCOMM_PORT:-4567}
POLL_SECONDS=${GALERA_POLL_SECONDS:-5}
ZERO_UUID=00000000-0000-0000-0000-000000000000
EXCHANGE_PID=""
# uuid:seqno recovered from the redo log, handed to mariadbd; empty when grastate.dat has it.
POSITION=""

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

# choose_bootstrap: reads "name uuid seqno safe_to_bootstrap position_known" lines, prints the
# member that bootstraps, or "ERROR <why>" when no member may bootstrap by itself: the members
# belong to different cluster histories, or a member has a history but its position is unknown
# (position_known 0, or a cluster uuid with seqno -1): it could be ahead of every other member.
choose_bootstrap() {
  local name uuid seqno safe known histories=" " best="" best_key=() unknown=""
  while read -r name uuid seqno safe known _; do
    [[ -n ${name:-} ]] || continue
    [[ ${seqno:-} =~ ^-?[0-9]+$ ]] || seqno=-1
    [[ ${safe:-} == 1 ]] || safe=0
    uuid=${uuid,,}
    if [[ -n $uuid && $uuid != "$ZERO_UUID" && $histories != *" $uuid "* ]]; then
      histories="$histories$uuid "
    fi
    if [[ ${known:-1} == 0 ]] || [[ -n $uuid && $uuid != "$ZERO_UUID" && $seqno == -1 ]]; then
      unknown+=" $name"
      continue
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
  elif [[ -n $unknown ]]; then
    echo "ERROR the position of${unknown} is unknown (grastate.dat seqno -1 and --wsrep-recover gave none): it may hold the newest commits, so no member bootstraps by itself; force a bootstrap only if they may lose them"
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

has_data() { [[ -d $DATADIR/mysql ]]; }

# The position in the InnoDB redo log (mariadbd --wsrep-recover), printed as uuid:seqno; fails,
# saying why on stderr, when mariadbd fails or prints no position. The log is written afresh:
# the run directory survives container restarts, and a stale log must never be read.
recover_position() {
  local position
  rm -f "$RECOVER_LOG"
  if ! mariadbd --defaults-extra-file="$RUNTIME_CNF" --datadir="$DATADIR" --wsrep-recover \
    --log-error="$RECOVER_LOG" >/dev/null 2>&1; then
    log "mariadbd --wsrep-recover failed: $(grep -m 3 '\[ERROR\]' "$RECOVER_LOG" 2>/dev/null | tr '\n' ' ')"
    return 1
  fi
  position=$(grep -o 'WSREP: Recovered position:\? *[0-9a-f-]\{36\}:-\?[0-9]\+' "$RECOVER_LOG" 2>/dev/null | tail -n 1 || true)
  position=${position##* }
  if [[ -z $position ]]; then
    log "mariadbd --wsrep-recover printed no position"
    return 1
  fi
  echo "$position"
}

# Prints this member's state line and sets POSITION (call it without a subshell). A crash leaves
# seqno -1 in grastate.dat: the committed position is then recovered from the InnoDB redo log.
# A member with data whose position cannot be recovered reports position_known 0.
local_state() {
  local uuid seqno safe known=1 position
  uuid=$(grastate_field uuid)
  seqno=$(grastate_field seqno)
  safe=$(grastate_field safe_to_bootstrap)
  uuid=${uuid:-$ZERO_UUID}
  seqno=${seqno:--1}
  POSITION=""
  if [[ $seqno == -1 ]] && has_data; then
    log "grastate.dat has no seqno (unclean shutdown): recovering the position with --wsrep-recover"
    if position=$(recover_position); then
      uuid=${position%:*}
      seqno=${position##*:}
      if [[ $uuid != "$ZERO_UUID" && $seqno != -1 ]]; then
        POSITION=$position
      fi
    else
      known=0
      log "the position of this member cannot be established: it takes no part in an automatic bootstrap"
    fi
  fi
  echo "$POD_NAME $uuid $seqno ${safe:-0} $known"
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
      echo "wsrep_sst_auth=mariabackup:$(<"$GALERA_SST_PASSWORD_FILE")"
    } >"$RUNTIME_CNF"
  )
}

stop_exchange() {
  if [[ -n $EXCHANGE_PID ]]; then
    kill "$EXCHANGE_PID" 2>/dev/null || true
    wait "$EXCHANGE_PID" 2>/dev/null || true
    EXCHANGE_PID=""
# uuid:seqno recovered from the redo log, handed to mariadbd; empty when grastate.dat has it.
POSITION=""
  fi
}

# Hands over to the image's entrypoint (it initialises an empty data directory, then execs
# mariadbd). The runtime config comes first: --defaults-extra-file must be the first option.
start_mariadb() {
  local phase=$1 args
  shift
  args=(--defaults-extra-file="$RUNTIME_CNF" --datadir="$DATADIR")
  if [[ -n $POSITION ]]; then
    args+=(--wsrep_start_position="$POSITION")
  fi
  stop_exchange
  trap - TERM INT
  echo "$phase" >"$PHASE_FILE"
  log "starting mariadbd ($phase${POSITION:+, from position $POSITION})"
  exec docker-entrypoint.sh mariadbd "${args[@]}" "$@"
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
  local peer states reported member line choice
  # PID 1 while waiting: leave promptly when the pod is deleted.
  trap 'stop_exchange; exit 0' TERM INT
  write_runtime_config
  echo exchange >"$PHASE_FILE"
  rm -f "$FORCE_FILE" "$UNJOINED_FILE"
  # The position first, also when joining a running cluster: with it Galera asks for IST.
  local_state >"$STATE_FILE"
  if peer=$(running_peer); then
    log "$peer runs Galera: joining the cluster"
    start_mariadb join
  fi
  log "no running member found; my state: $(<"$STATE_FILE")"
  socat -T 5 "TCP-LISTEN:$EXCHANGE_PORT,bind=$POD_IP,reuseaddr,fork" "SYSTEM:cat $STATE_FILE" &
  EXCHANGE_PID=$!
  while true; do
    if peer=$(running_peer); then
      log "$peer runs Galera: joining the cluster"
      start_mariadb join
    fi
    if [[ -f $FORCE_FILE ]]; then
      bootstrap "forced by an operator ($(<"$FORCE_FILE"))"
    fi
    states=$(<"$STATE_FILE")
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
        log "cannot decide automatically, waiting: ${choice#ERROR } (see docs/runbooks/galera-recovery.md)"
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

# -*- coding: utf-8 -*-
# Copyright: orchestrate.platform developers
# Apache License 2.0 (see LICENSE)
"""MariaDB Galera decisions as pure functions: which member may bootstrap the cluster after a
full outage, and which member takes the writes.

The same rules run in three places: these filters (playbooks/galera_recover.yml), the writer
elector of roles/mariadb_galera (this file is mounted into its pod and imported, so it is the
same code), and the bash entry script of the Galera containers (the MariaDB image has no
Python; tests/unit/test_galera_filters.py runs the shell rule on the same cases).

- orchestrate.platform.galera_grastate(text): the fields of a grastate.dat
- orchestrate.platform.galera_recovered(text): the position printed by `mariadbd --wsrep-recover`
- orchestrate.platform.galera_member_state(name, grastate, recovered): one member's state
- orchestrate.platform.galera_bootstrap_candidate(states, expected): who bootstraps, and why
- orchestrate.platform.galera_writer(pods, current): the member that takes the writes
"""

from __future__ import annotations

import re
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence

ZERO_UUID = "00000000-0000-0000-0000-000000000000"
UNKNOWN_SEQNO = -1
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_RECOVERED = re.compile(r"WSREP: Recovered position:?\s+([0-9a-f-]{36}):(-?[0-9]+)")

State = Dict[str, Any]


class GaleraDecisionError(ValueError):
    """The states cannot be decided on safely (e.g. members of different clusters)."""


def _int(value: Any, default: int = UNKNOWN_SEQNO) -> int:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return default


def galera_grastate(text: Optional[str]) -> State:
    """uuid, seqno and safe_to_bootstrap of a grastate.dat text; an empty or missing file is a
    member without history (zero uuid, seqno -1)."""
    fields: Dict[str, str] = {}
    for line in (text or "").splitlines():
        key, sep, value = line.partition(":")
        if sep and not key.strip().startswith("#"):
            fields[key.strip()] = value.strip()
    uuid = fields.get("uuid", ZERO_UUID).lower()
    return {
        "uuid": uuid if _UUID.match(uuid) else ZERO_UUID,
        "seqno": _int(fields.get("seqno")),
        "safe_to_bootstrap": _int(fields.get("safe_to_bootstrap"), 0) == 1,
    }


def galera_recovered(text: Optional[str]) -> Optional[State]:
    """The last "WSREP: Recovered position: <uuid>:<seqno>" of a `mariadbd --wsrep-recover` log, or None."""
    found = _RECOVERED.findall(text or "")
    if not found:
        return None
    uuid, seqno = found[-1]
    return {"uuid": uuid.lower(), "seqno": int(seqno)}


def galera_member_state(name: str, grastate: Optional[str], recovered: Optional[str] = None) -> State:
    """A member's state: grastate.dat, with the position from --wsrep-recover when grastate says -1
    (a crash leaves -1 there; the real position is then only in the InnoDB redo log). A member
    with a cluster uuid whose seqno stays -1 has an unknown position (position_known False)."""
    state = galera_grastate(grastate)
    position = galera_recovered(recovered)
    if state["seqno"] == UNKNOWN_SEQNO and position is not None:
        state["seqno"] = position["seqno"]
        state["uuid"] = position["uuid"]
    state["name"] = name
    state["position_known"] = not _position_unknown(state)
    return state


def _truthy(value: Any) -> bool:
    return value is True or str(value).strip().lower() in ("1", "true", "yes")


def _position_unknown(state: Mapping[str, Any]) -> bool:
    """A member with a cluster history whose committed seqno is unknown: it may be ahead of all
    the others, so no automatic decision may leave it out (fail closed)."""
    return state.get("position_known") is False or (state["uuid"] != ZERO_UUID and state["seqno"] == UNKNOWN_SEQNO)


def ordinal(name: str) -> int:
    """The StatefulSet ordinal at the end of a pod name (mariadb-galera-2 -> 2); large when none."""
    match = re.search(r"-([0-9]+)$", name)
    return int(match.group(1)) if match else 1 << 30


def _normalise(state: Mapping[str, Any]) -> State:
    name = str(state.get("name", ""))
    if not name:
        raise GaleraDecisionError("a member state has no name: %r" % (state,))
    uuid = str(state.get("uuid") or ZERO_UUID).lower()
    known = state.get("position_known", True)
    normal = {
        "name": name,
        "uuid": uuid if _UUID.match(uuid) else ZERO_UUID,
        "seqno": _int(state.get("seqno")),
        "safe_to_bootstrap": _truthy(state.get("safe_to_bootstrap", False)),
        "position_known": known in (None, "") or _truthy(known),
    }
    normal["position_known"] = not _position_unknown(normal)
    return normal


def _rank(state: State) -> tuple:
    # Highest seqno first, then the member Galera itself marked safe, then the lowest ordinal.
    return (-state["seqno"], 0 if state["safe_to_bootstrap"] else 1, ordinal(state["name"]), state["name"])


def galera_bootstrap_candidate(states: Iterable[Mapping[str, Any]], expected: Optional[Sequence[str]] = None) -> State:
    """Choose the member that bootstraps a cluster none of whose members is running.

    Rules, in order: members of different cluster histories (two non-zero uuids) are refused;
    a member with a history whose position is unknown (seqno -1 after --wsrep-recover, or
    position_known false) blocks the automatic path: it may hold the newest commits; among the
    others the highest committed seqno wins; on a tie the member with safe_to_bootstrap: 1,
    then the lowest ordinal. `complete` says whether every expected member reported. Only when
    `automatic` (complete, and no position unknown) do the members bootstrap by themselves;
    otherwise `member` is what an operator's forced bootstrap would use, and `reason` says why
    it waits.

    Returns {member, seqno, uuid, complete, missing, unknown, automatic, fresh, reason}.
    """
    members = [_normalise(state) for state in states]
    if not members:
        raise GaleraDecisionError("no member reported a state")
    names = [m["name"] for m in members]
    if len(set(names)) != len(names):
        raise GaleraDecisionError("a member reported twice: %s" % sorted(names))
    histories = sorted({m["uuid"] for m in members if m["uuid"] != ZERO_UUID})
    if len(histories) > 1:
        raise GaleraDecisionError(
            "members belong to different cluster histories %s: refusing to choose (restore one side from backup)" % histories
        )
    missing = sorted(set(expected or []) - set(names), key=ordinal)
    unknown = sorted((m["name"] for m in members if not m["position_known"]), key=ordinal)
    known = [m for m in members if m["position_known"]]
    best = sorted(known or members, key=_rank)[0]
    fresh = not histories and all(m["seqno"] == UNKNOWN_SEQNO for m in members)
    if unknown:
        reason = (
            "the position of %s is unknown (grastate.dat seqno -1 and --wsrep-recover gave none): it may hold the newest "
            "commits, so no member bootstraps by itself; a forced bootstrap from %s loses whatever only %s had"
            % (", ".join(unknown), best["name"], ", ".join(unknown))
        )
    elif fresh:
        reason = "no member has any history: the lowest ordinal starts a new cluster"
    else:
        ties = [m for m in members if m["seqno"] == best["seqno"]]
        reason = "highest committed seqno %d%s" % (
            best["seqno"],
            "" if len(ties) == 1 else " (tie of %d, decided by %s)" % (
                len(ties), "safe_to_bootstrap" if best["safe_to_bootstrap"] and not all(m["safe_to_bootstrap"] for m in ties) else "lowest ordinal"),
        )
    return {
        "member": best["name"],
        "seqno": best["seqno"],
        "uuid": best["uuid"],
        "complete": not missing,
        "missing": missing,
        "unknown": unknown,
        "automatic": not missing and not unknown,
        "fresh": fresh,
        "reason": reason,
    }


def galera_should_bootstrap(me: str, states: Iterable[Mapping[str, Any]], expected: Sequence[str]) -> bool:
    """True only when every expected member reported, every position is known and `me` is the candidate."""
    decision = galera_bootstrap_candidate(states, expected)
    return decision["automatic"] and decision["member"] == me


def galera_writer(pods: Iterable[Mapping[str, Any]], current: Optional[str] = None) -> Optional[str]:
    """The member that takes the writes: the current writer while it stays ready (no flapping back
    when a lower ordinal returns), otherwise the ready member with the lowest ordinal; None when
    no member is ready. `pods` are {name, ready}."""
    ready = sorted((str(p["name"]) for p in pods if p.get("ready")), key=lambda n: (ordinal(n), n))
    if current and current in ready:
        return current
    return ready[0] if ready else None


class FilterModule:
    def filters(self) -> Dict[str, Any]:
        return {
            "galera_grastate": galera_grastate,
            "galera_recovered": galera_recovered,
            "galera_member_state": galera_member_state,
            "galera_bootstrap_candidate": galera_bootstrap_candidate,
            "galera_should_bootstrap": galera_should_bootstrap,
            "galera_writer": galera_writer,
        }


__all__: List[str] = [
    "GaleraDecisionError",
    "FilterModule",
    "galera_bootstrap_candidate",
    "galera_grastate",
    "galera_member_state",
    "galera_recovered",
    "galera_should_bootstrap",
    "galera_writer",
    "ordinal",
]

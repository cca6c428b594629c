# -*- coding: utf-8 -*-
# Copyright: orchestrate.platform developers
# Apache License 2.0 (see LICENSE)
"""Change detection on the fields a field manager owns.

Server-side apply records, per manager, the set of fields it owns in
`metadata.managedFields[].fieldsV1` (the "FieldsV1" encoding: `f:<name>` for a map key,
`k:<json>` for an associative-list element found by its key fields, `v:<json>` for a
set element, `i:<n>` for a list index, and `.` for "this element itself").

Whether an apply changed anything is decided by projecting the object before and after
onto the union of the fields the manager owned before and owns after, and comparing the
projections. Status written by controllers, fields owned by other managers and the
managedFields bookkeeping itself never count as a change made by the engine.
"""

from __future__ import annotations

import json
from typing import Any, Dict, List, Mapping, Optional

FieldSet = Dict[str, Any]

_MISSING = object()


def manager_fields(obj: Optional[Mapping[str, Any]], manager: str) -> FieldSet:
    """The fieldsV1 set that `manager` owns on obj through Apply operations (merged over subresources)."""
    fields: FieldSet = {}
    if not obj:
        return fields
    for entry in (obj.get("metadata") or {}).get("managedFields") or []:
        if entry.get("manager") == manager and entry.get("operation") == "Apply":
            fields = merge_fields(fields, entry.get("fieldsV1") or {})
    return fields


def merge_fields(left: FieldSet, right: FieldSet) -> FieldSet:
    """The union of two field sets."""
    out: FieldSet = dict(left)
    for key, sub in right.items():
        out[key] = merge_fields(out[key], sub) if key in out else sub
    return out


def _list_item(items: List[Any], key: str) -> Any:
    """The element of a list addressed by a `k:`, `v:` or `i:` path element, or _MISSING."""
    prefix, _, raw = key.partition(":")
    if prefix == "i":
        index = int(raw)
        return items[index] if 0 <= index < len(items) else _MISSING
    wanted = json.loads(raw)
    for item in items:
        if prefix == "v" and item == wanted:
            return item
        if prefix == "k" and isinstance(item, dict) and all(item.get(k) == v for k, v in wanted.items()):
            return item
    return _MISSING


def _child(value: Any, key: str) -> Any:
    if key.startswith("f:"):
        return value.get(key[2:], _MISSING) if isinstance(value, dict) else _MISSING
    if isinstance(value, list):
        return _list_item(value, key)
    return _MISSING


def project(value: Any, fields: FieldSet) -> Any:
    """The part of value that fields covers, as a comparable structure.

    A leaf (an empty set, or one holding only `.`) keeps the whole value; a missing field
    projects to a marker so that "absent" differs from any present value.
    """
    children = {key: sub for key, sub in fields.items() if key != "."}
    if not children:
        return value
    out: Dict[str, Any] = {}
    for key, sub in sorted(children.items()):
        child = _child(value, key)
        out[key] = "<absent>" if child is _MISSING else project(child, sub)
    return out


def owned_change(before: Optional[Mapping[str, Any]], after: Mapping[str, Any], manager: str) -> bool:
    """Did the apply that turned `before` into `after` change a field `manager` owns (or owned)?

    `before` is None when the object did not exist: creating it is a change.
    """
    if before is None:
        return True
    fields = merge_fields(manager_fields(before, manager), manager_fields(after, manager))
    return project(before, fields) != project(after, fields)


def owned_view(obj: Optional[Mapping[str, Any]], fields: FieldSet) -> Optional[Dict[str, Any]]:
    """The object restricted to the given fields, in its own shape (for --diff output)."""
    if obj is None:
        return None
    return _restrict(obj, fields)


def _restrict(value: Any, fields: FieldSet) -> Any:
    children = {key: sub for key, sub in fields.items() if key != "."}
    if not children:
        return value
    if isinstance(value, dict):
        out: Dict[str, Any] = {}
        for key, sub in children.items():
            if key.startswith("f:") and key[2:] in value:
                out[key[2:]] = _restrict(value[key[2:]], sub)
        return out
    if isinstance(value, list):
        kept = []
        for key, sub in children.items():
            item = _list_item(value, key)
            if item is not _MISSING:
                kept.append(_restrict(item, sub))
        return kept
    return value


def contains(live: Any, desired: Any) -> bool:
    """Does `live` already hold every value of `desired`? Lists must match element by element
    (same length); a null, or any doubt, answers no, so that the caller applies after all."""
    if isinstance(desired, dict):
        return isinstance(live, dict) and all(key in live and contains(live[key], sub) for key, sub in desired.items())
    if isinstance(desired, list):
        return isinstance(live, list) and len(live) == len(desired) and all(map(contains, live, desired))
    if desired is None or isinstance(desired, bool) or isinstance(live, bool):
        return desired is not None and live is desired
    return type(live) is type(desired) and live == desired


def _index(items: List[Any], key: str) -> Optional[int]:
    found = _list_item(items, key)
    if found is _MISSING:
        return None
    return next(index for index, item in enumerate(items) if item is found)


def _key_fields(key: str) -> frozenset:
    """The key fields of a `k:` list element ({"containerPort": 80, "protocol": "TCP"} -> both)."""
    return frozenset(json.loads(key[2:])) if key.startswith("k:") else frozenset()


def within(fields: FieldSet, live: Any, desired: Any, keys: frozenset = frozenset()) -> bool:
    """Is every field of `fields` (owned on `live`) also set in `desired`? Lists are paired by the
    position of the element in `live` (contains() has checked that both have the same length).
    The key fields of a keyed list element are part of its identity, not separately required."""
    for key, sub in fields.items():
        if key == ".":
            continue
        if key.startswith("f:"):
            name = key[2:]
            if name in keys and not sub:
                continue
            if not isinstance(desired, dict) or name not in desired:
                return False
            if not within(sub, live.get(name) if isinstance(live, dict) else None, desired[name]):
                return False
            continue
        if not isinstance(live, list) or not isinstance(desired, list):
            return False
        index = _index(live, key)
        if index is None or index >= len(desired) or not within(sub, live[index], desired[index], _key_fields(key)):
            return False
    return True


def apply_is_noop(desired: Mapping[str, Any], live: Optional[Mapping[str, Any]], manager: str) -> bool:
    """Would server-side applying `desired` as `manager` leave `live` as it is?

    True only when the manager has applied the object before, every value of `desired` is
    already live, and the manager owns nothing that `desired` leaves out (applying would remove
    it). Then the request can be skipped: a re-run that changes nothing only reads.
    """
    if live is None or live.get("apiVersion") != desired.get("apiVersion"):
        return False
    fields = manager_fields(live, manager)
    return bool(fields) and contains(live, desired) and within(fields, live, desired)

# -*- coding: utf-8 -*-
# Copyright: orchestrate.platform developers
# Apache License 2.0 (see LICENSE)
"""Cloud Storage bucket settings for the gce_backup_bucket role, as pure functions.

- orchestrate.platform.gce_bucket_settings(retention_days, minimum_days, storage_class): the
  bucket's wanted settings in the JSON API's form (uniform bucket-level access, no public
  access, a lifecycle rule that deletes objects older than retention_days, and a retention
  policy that forbids deleting or overwriting an object before minimum_days).
- orchestrate.platform.gce_bucket_patch(current, wanted): the fields of `wanted` that differ in
  `current` (a bucket resource as GET returns it); {} when nothing is to change.
"""

from __future__ import annotations

from typing import Any, Dict, Mapping

SECONDS_PER_DAY = 86400


def gce_bucket_settings(retention_days: int, minimum_days: int, storage_class: str = "STANDARD") -> Dict[str, Any]:
    retention, minimum = int(retention_days), int(minimum_days)
    if retention < 1 or minimum < 0 or minimum > retention:
        raise ValueError("need 0 <= minimum days (%d) <= retention days (%d), retention >= 1" % (minimum, retention))
    settings: Dict[str, Any] = {
        "storageClass": storage_class,
        "iamConfiguration": {"uniformBucketLevelAccess": {"enabled": True}, "publicAccessPrevention": "enforced"},
        "lifecycle": {"rule": [{"action": {"type": "Delete"}, "condition": {"age": retention}}]},
        "versioning": {"enabled": False},
    }
    if minimum:
        settings["retentionPolicy"] = {"retentionPeriod": str(minimum * SECONDS_PER_DAY)}
    return settings


def _same(wanted: Any, current: Any) -> bool:
    """`wanted` holds in `current`: dicts compared on wanted's keys only (the API adds its own
    fields such as effectiveTime), lists element by element, numbers as strings (the API
    returns int64 as strings)."""
    if isinstance(wanted, Mapping):
        return isinstance(current, Mapping) and all(_same(v, current.get(k)) for k, v in wanted.items())
    if isinstance(wanted, list):
        return isinstance(current, list) and len(wanted) == len(current) and all(_same(w, c) for w, c in zip(wanted, current))
    if isinstance(wanted, bool) or current is None:
        return wanted == current
    return str(wanted) == str(current)


def gce_bucket_patch(current: Mapping[str, Any], wanted: Mapping[str, Any]) -> Dict[str, Any]:
    return {key: value for key, value in wanted.items() if not _same(value, (current or {}).get(key))}


class FilterModule:
    def filters(self) -> Dict[str, Any]:
        return {"gce_bucket_settings": gce_bucket_settings, "gce_bucket_patch": gce_bucket_patch}

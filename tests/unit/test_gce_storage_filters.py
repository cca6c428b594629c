"""The backup bucket's wanted settings and the difference the gce_backup_bucket role writes."""

from __future__ import annotations

import pytest

from ansible_collections.orchestrate.platform.plugins.filter.gce_storage import gce_bucket_patch, gce_bucket_settings

# A bucket as the JSON API returns it after the role made it (extra fields, int64 as strings).
MADE = {
    "kind": "storage#bucket", "name": "acme-galera-backups", "location": "EUROPE-WEST1", "storageClass": "STANDARD",
    "iamConfiguration": {"uniformBucketLevelAccess": {"enabled": True, "lockedTime": "2027-03-01T00:00:00Z"},
                         "bucketPolicyOnly": {"enabled": True}, "publicAccessPrevention": "enforced"},
    "lifecycle": {"rule": [{"action": {"type": "Delete"}, "condition": {"age": 30}}]},
    "retentionPolicy": {"retentionPeriod": "604800", "effectiveTime": "2026-12-01T00:00:00Z"},
    "versioning": {"enabled": False},
}


def test_settings_delete_after_retention_and_protect_the_minimum() -> None:
    wanted = gce_bucket_settings(30, 7)
    assert wanted["lifecycle"]["rule"] == [{"action": {"type": "Delete"}, "condition": {"age": 30}}]
    assert wanted["retentionPolicy"] == {"retentionPeriod": "604800"}
    assert wanted["iamConfiguration"]["uniformBucketLevelAccess"] == {"enabled": True}
    assert wanted["iamConfiguration"]["publicAccessPrevention"] == "enforced"
    assert "retentionPolicy" not in gce_bucket_settings(30, 0)


@pytest.mark.parametrize("retention, minimum", [(0, 0), (7, 30), (30, -1)])
def test_bad_retention_is_refused(retention: int, minimum: int) -> None:
    with pytest.raises(ValueError):
        gce_bucket_settings(retention, minimum)


def test_a_bucket_made_by_the_role_needs_no_patch() -> None:
    assert gce_bucket_patch(MADE, gce_bucket_settings(30, 7)) == {}


def test_only_what_differs_is_patched() -> None:
    patch = gce_bucket_patch(MADE, gce_bucket_settings(14, 7))
    assert patch == {"lifecycle": {"rule": [{"action": {"type": "Delete"}, "condition": {"age": 14}}]}}
    public = dict(MADE, iamConfiguration={"uniformBucketLevelAccess": {"enabled": False}})
    assert set(gce_bucket_patch(public, gce_bucket_settings(30, 7))) == {"iamConfiguration"}
    bare = {"name": "acme-galera-backups", "storageClass": "STANDARD"}
    assert set(gce_bucket_patch(bare, gce_bucket_settings(30, 7))) == {"iamConfiguration", "lifecycle", "retentionPolicy", "versioning"}

"""The Applier against the in-memory API: create, no-op re-run, prune, check mode, waits."""

from __future__ import annotations

import copy
from typing import Any, Dict, List

import pytest

from ansible_collections.orchestrate.platform.plugins.module_utils.manifests_apply import (
    Applier,
    ApplyFailed,
    ApplyOptions,
    Report,
)
from ansible_collections.orchestrate.platform.plugins.module_utils.manifests_applyset import (
    GROUP_KINDS_ANNOTATION,
    PART_OF_LABEL,
    ApplySet,
)

from fake_api import FakeApi

Obj = Dict[str, Any]
APPLYSET = ApplySet("orchestrate.platform.web", "kube-system")


def namespace(name: str) -> Obj:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


def configmap(name: str, data: Dict[str, str], ns: str = "web") -> Obj:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": ns}, "data": data}


def pvc(name: str, ns: str = "web") -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    }


def deployment(name: str, replicas: int = 2, ns: str = "web") -> Obj:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"replicas": replicas, "template": {"spec": {"containers": [{"name": "c", "image": "r/x:1"}]}}},
    }


def crd_and_instance() -> List[Obj]:
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.org"},
        "spec": {
            "group": "example.org",
            "scope": "Namespaced",
            "names": {"kind": "Widget", "plural": "widgets"},
            "versions": [{"name": "v1", "served": True, "storage": True}],
        },
    }
    widget = {"apiVersion": "example.org/v1", "kind": "Widget", "metadata": {"name": "w", "namespace": "web"}, "spec": {"size": 1}}
    return [widget, crd]


@pytest.fixture
def api() -> FakeApi:
    fake = FakeApi()
    fake.store[("", "Namespace", "", "kube-system")] = {
        "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kube-system", "managedFields": [], "resourceVersion": "1"},
    }
    return fake


def run(api: FakeApi, objects: List[Obj], **options: Any) -> Report:
    defaults: Dict[str, Any] = {"wait": False, "poll_interval": 0.01, "concurrency": 4}
    defaults.update(options)
    return Applier(api, APPLYSET, ApplyOptions(**defaults)).run(copy.deepcopy(objects))  # type: ignore[arg-type]


def actions(report: Report) -> Dict[str, str]:
    return {str(outcome.ref): outcome.action for outcome in report.outcomes}


BASE = [namespace("web"), configmap("settings", {"a": "1"}), pvc("data")]


def test_first_run_creates_everything_and_labels_members(api: FakeApi) -> None:
    report = run(api, BASE)
    assert report.changed
    assert set(actions(report).values()) == {"created"}
    stored = api.get("", "ConfigMap", "web", "settings")
    assert stored is not None and stored["metadata"]["labels"][PART_OF_LABEL] == APPLYSET.id
    parent = api.get("", "ConfigMap", "kube-system", APPLYSET.name)
    assert parent is not None and "PersistentVolumeClaim" in parent["metadata"]["annotations"][GROUP_KINDS_ANNOTATION]


def test_rerun_is_unchanged_and_writes_nothing(api: FakeApi) -> None:
    run(api, BASE)
    versions = {key: obj["metadata"]["resourceVersion"] for key, obj in api.store.items()}
    report = run(api, BASE)
    assert not report.changed
    assert set(actions(report).values()) == {"unchanged"}
    assert {key: obj["metadata"]["resourceVersion"] for key, obj in api.store.items()} == versions


def test_controller_status_and_other_managers_do_not_count_as_change(api: FakeApi) -> None:
    objects = BASE + [deployment("site")]
    run(api, objects)
    api.controller_writes_status("apps", "Deployment", "web", "site", {"replicas": 2, "availableReplicas": 2})
    api.other_manager_sets_label("", "ConfigMap", "web", "settings", "team", "blue")
    assert not run(api, objects).changed


def test_a_changed_owned_field_is_configured(api: FakeApi) -> None:
    run(api, BASE)
    report = run(api, [BASE[0], configmap("settings", {"a": "2"}), BASE[2]])
    assert actions(report)["ConfigMap/web/settings"] == "configured"
    assert actions(report)["Namespace/web"] == "unchanged"


def test_prune_deletes_dropped_objects_but_keeps_pvcs_and_namespaces(api: FakeApi) -> None:
    run(api, BASE + [configmap("old", {"x": "y"})])
    report = run(api, [namespace("other"), configmap("settings", {"a": "1"}, ns="other")])
    got = actions(report)
    assert got["ConfigMap/web/old"] == "pruned" and got["ConfigMap/web/settings"] == "pruned"
    assert got["PersistentVolumeClaim/web/data"] == "kept"
    assert got["Namespace/web"] == "kept"
    assert api.get("", "ConfigMap", "web", "old") is None
    assert api.get("", "PersistentVolumeClaim", "web", "data") is not None
    assert api.get("", "Namespace", "", "web") is not None


def test_namespaces_are_pruned_only_when_asked(api: FakeApi) -> None:
    run(api, [namespace("gone"), namespace("stays")])
    report = run(api, [namespace("stays")], prune_namespaces=True)
    assert actions(report)["Namespace/gone"] == "pruned"
    assert api.get("", "Namespace", "", "gone") is None


def test_prune_off_leaves_dropped_objects(api: FakeApi) -> None:
    run(api, BASE + [configmap("old", {"x": "y"})])
    report = run(api, BASE, prune=False)
    assert "ConfigMap/web/old" not in actions(report)
    assert api.get("", "ConfigMap", "web", "old") is not None


def test_check_mode_reports_without_changing_anything(api: FakeApi) -> None:
    run(api, BASE)
    before = copy.deepcopy(api.store)
    report = run(api, [BASE[0], configmap("settings", {"a": "2"}), configmap("new", {})], check_mode=True)
    got = actions(report)
    assert got["ConfigMap/web/settings"] == "configured"
    assert got["ConfigMap/web/new"] == "created"
    assert got["PersistentVolumeClaim/web/data"] == "kept"
    assert api.store == before
    assert all(method != "DELETE" for method, _ in api.log)


def test_check_mode_on_an_empty_cluster_expects_the_namespace(api: FakeApi) -> None:
    report = run(api, BASE, check_mode=True)
    assert set(actions(report).values()) == {"created"}
    assert api.get("", "Namespace", "", "web") is None


def test_diff_shows_only_owned_fields(api: FakeApi) -> None:
    run(api, BASE)
    api.other_manager_sets_label("", "ConfigMap", "web", "settings", "team", "blue")
    report = run(api, [BASE[0], configmap("settings", {"a": "2"}), BASE[2]], want_diff=True)
    diff = next(o.diff for o in report.outcomes if str(o.ref) == "ConfigMap/web/settings")
    assert diff is not None
    assert "a: '1'" in diff["before"] and "a: '2'" in diff["after"]
    assert "team" not in diff["after"]


def test_custom_resources_follow_their_crd(api: FakeApi) -> None:
    report = run(api, [namespace("web")] + crd_and_instance())
    assert actions(report)["Widget/web/w"] == "created"
    patches = [path for method, path in api.log if method == "PATCH"]
    crd_at = next(i for i, p in enumerate(patches) if "customresourcedefinitions" in p)
    widget_at = next(i for i, p in enumerate(patches) if "/widgets/" in p)
    assert crd_at < widget_at


def test_unknown_kind_fails_with_the_object_named(api: FakeApi) -> None:
    bogus = {"apiVersion": "nope.example/v1", "kind": "Gadget", "metadata": {"name": "g", "namespace": "web"}}
    with pytest.raises(ApplyFailed, match="Gadget/web/g"):
        run(api, [namespace("web"), bogus])


def test_wait_times_out_with_the_reason(api: FakeApi) -> None:
    with pytest.raises(ApplyFailed, match=r"Deployment/web/site: controller has not observed the new generation") as failed:
        run(api, [namespace("web"), deployment("site")], wait=True, wait_timeout=0.05)
    assert failed.value.report.not_ready


def test_wait_returns_once_the_controller_reports_ready(api: FakeApi) -> None:
    objects = [namespace("web"), deployment("site")]
    run(api, objects)
    stored = api.get("apps", "Deployment", "web", "site")
    assert stored is not None
    stored["metadata"]["generation"] = 1
    api.controller_writes_status(
        "apps", "Deployment", "web", "site",
        {"observedGeneration": 1, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 2},
    )
    report = run(api, objects, wait=True, wait_timeout=1)
    assert not report.changed and not report.not_ready


def secret(value: str) -> Obj:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db", "namespace": "web"},
            "type": "Opaque", "stringData": {"password": value}}


def test_secret_string_data_is_applied_as_data_so_rotation_is_a_change(api: FakeApi) -> None:
    run(api, [namespace("web"), secret("one")])
    stored = api.get("", "Secret", "web", "db")
    assert stored is not None and "stringData" not in stored and stored["data"] == {"password": "b25l"}
    assert not run(api, [namespace("web"), secret("one")]).changed
    report = run(api, [namespace("web"), secret("two")], want_diff=True)
    assert actions(report)["Secret/web/db"] == "configured"
    shown = next(o.diff for o in report.outcomes if str(o.ref) == "Secret/web/db")
    assert shown is not None and "b25l" not in str(shown) and "dHdv" not in str(shown)

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


# -- a re-run with nothing to change only reads ---------------------------------------------------


def test_noop_rerun_sends_no_writes_and_reads_parent_and_lists_only(api: FakeApi) -> None:
    objects = BASE + [deployment("site")]
    run(api, objects)
    api.log.clear()
    report = run(api, objects)
    assert set(actions(report).values()) == {"unchanged"}
    assert api.writes() == []
    reads = [path for _, path in api.log]
    # discovery (two aggregated requests), the parent, one LIST per group-kind
    assert sorted(reads) == sorted(["/api", "/apis", "/api/v1/namespaces/kube-system/configmaps/" + APPLYSET.name,
                                    "/api/v1/namespaces", "/api/v1/configmaps", "/api/v1/persistentvolumeclaims",
                                    "/apis/apps/v1/deployments"])


def test_drift_by_another_manager_is_applied_again(api: FakeApi) -> None:
    run(api, BASE)
    api.update("", "ConfigMap", "web", "settings", "kubectl-edit", {"data": {"a": "edited"}})
    report = run(api, BASE)
    assert actions(report)["ConfigMap/web/settings"] == "configured"
    stored = api.get("", "ConfigMap", "web", "settings")
    assert stored is not None and stored["data"] == {"a": "1"}


def test_a_field_dropped_from_the_template_is_removed(api: FakeApi) -> None:
    run(api, [namespace("web"), configmap("settings", {"a": "1", "b": "2"})])
    report = run(api, [namespace("web"), configmap("settings", {"a": "1"})])
    assert actions(report)["ConfigMap/web/settings"] == "configured"
    stored = api.get("", "ConfigMap", "web", "settings")
    assert stored is not None and stored["data"] == {"a": "1"}


def test_discovery_falls_back_to_group_versions_without_aggregated_discovery() -> None:
    api = FakeApi(aggregated=False)
    api.store[("", "Namespace", "", "kube-system")] = {
        "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kube-system", "managedFields": [], "resourceVersion": "1"},
    }
    report = run(api, BASE + [deployment("site")])
    assert set(actions(report).values()) == {"created"}
    assert ("GET", "/apis/apps/v1") in api.log


def test_discovery_handed_over_from_an_earlier_task_is_not_read_again(api: FakeApi) -> None:
    from ansible_collections.orchestrate.platform.plugins.module_utils.manifests_client import Discovery

    first = Applier(api, APPLYSET, ApplyOptions(wait=False))
    first.run(copy.deepcopy(BASE))
    known = first.discovery.snapshot()
    api.log.clear()
    objects = BASE + crd_and_instance()
    # A CRD created in between by someone else is still found: an unknown kind reads discovery again.
    api.request("PATCH", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.org",
                {"fieldManager": "someone"}, crd_and_instance()[1])
    api.log.clear()
    second = Applier(api, APPLYSET, ApplyOptions(wait=False), Discovery(api, known))
    report = second.run(copy.deepcopy(objects))
    assert actions(report)["Widget/web/w"] == "created"
    # read again once for the unknown kind, once after this run wrote the CRD
    assert sorted(path for _, path in api.log if path in ("/api", "/apis")) == ["/api", "/api", "/apis", "/apis"]
    api.log.clear()
    Applier(api, APPLYSET, ApplyOptions(wait=False), Discovery(api, second.discovery.snapshot())).run(copy.deepcopy(objects))
    assert not [path for _, path in api.log if path in ("/api", "/apis")]


# -- an autoscaled workload: spec.replicas only at creation ---------------------------------------


def hpa(target: str, ns: str = "web") -> Obj:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": target, "namespace": ns},
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
                 "minReplicas": 3, "maxReplicas": 10},
    }


def replicas(api: FakeApi, name: str = "site") -> int:
    stored = api.get("apps", "Deployment", "web", name)
    assert stored is not None
    return int(stored["spec"]["replicas"])


def owners_of_replicas(api: FakeApi, name: str = "site") -> List[str]:
    stored = api.get("apps", "Deployment", "web", name)
    assert stored is not None
    return sorted(entry["manager"] for entry in stored["metadata"]["managedFields"]
                  if "f:replicas" in (entry["fieldsV1"].get("f:spec") or {}))


SCALED = [namespace("web"), deployment("site", replicas=3), hpa("site")]


def test_a_rerun_leaves_the_replicas_the_autoscaler_set(api: FakeApi) -> None:
    assert actions(run(api, SCALED))["Deployment/web/site"] == "created"
    assert replicas(api) == 3
    api.update("apps", "Deployment", "web", "site", "kube-controller-manager", {"spec": {"replicas": 7}}, "scale")
    api.log.clear()
    report = run(api, SCALED)
    assert not report.changed
    assert replicas(api) == 7
    assert api.writes() == []


def test_without_an_autoscaler_a_scaled_workload_is_set_back(api: FakeApi) -> None:
    plain = [namespace("web"), deployment("site", replicas=3)]
    run(api, plain)
    api.update("apps", "Deployment", "web", "site", "kubectl-scale", {"spec": {"replicas": 7}}, "scale")
    assert actions(run(api, plain))["Deployment/web/site"] == "configured"
    assert replicas(api) == 3


def test_replicas_are_handed_over_before_the_autoscaler_wrote_them(api: FakeApi) -> None:
    run(api, SCALED)
    assert owners_of_replicas(api) == ["orchestrate.platform"]
    report = run(api, SCALED)
    assert not report.changed
    assert replicas(api) == 3  # never the default 1
    assert owners_of_replicas(api) == ["orchestrate.platform-replicas-handover"]
    api.log.clear()
    assert not run(api, SCALED).changed
    assert api.writes() == []
    # The autoscaler's first write takes the field over from the handover manager.
    api.update("apps", "Deployment", "web", "site", "kube-controller-manager", {"spec": {"replicas": 4}}, "scale")
    assert owners_of_replicas(api) == ["kube-controller-manager"]
    assert not run(api, SCALED).changed and replicas(api) == 4


def test_check_mode_before_the_handover_reports_no_change_and_writes_nothing(api: FakeApi) -> None:
    run(api, SCALED)
    before = copy.deepcopy(api.store)
    report = run(api, SCALED, check_mode=True)
    assert not report.changed
    assert api.store == before


def test_a_changed_template_still_reaches_an_autoscaled_workload(api: FakeApi) -> None:
    run(api, SCALED)
    api.update("apps", "Deployment", "web", "site", "kube-controller-manager", {"spec": {"replicas": 6}}, "scale")
    changed = deployment("site", replicas=3)
    changed["spec"]["template"]["spec"]["containers"][0]["image"] = "r/x:2"
    report = run(api, [namespace("web"), changed, hpa("site")])
    assert actions(report)["Deployment/web/site"] == "configured"
    stored = api.get("apps", "Deployment", "web", "site")
    assert stored is not None and stored["spec"]["template"]["spec"]["containers"][0]["image"] == "r/x:2"
    assert replicas(api) == 6

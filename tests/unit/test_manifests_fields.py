"""Change detection on the fields a manager owns (FieldsV1 projection)."""

from __future__ import annotations

import copy
from typing import Any, Dict

from ansible_collections.orchestrate.platform.plugins.module_utils.manifests_fields import (
    apply_is_noop,
    contains,
    manager_fields,
    merge_fields,
    owned_change,
    owned_view,
    project,
)

ME = "orchestrate.platform"

DEPLOYMENT_FIELDS = {
    "f:metadata": {"f:labels": {"f:app": {}}},
    "f:spec": {
        "f:replicas": {},
        "f:template": {
            "f:spec": {
                "f:containers": {
                    'k:{"name":"web"}': {".": {}, "f:image": {}, "f:name": {}},
                },
            },
        },
    },
}


def deployment(image: str = "nginx:1.27", replicas: int = 3, status: dict | None = None, extra_labels: dict | None = None) -> dict:
    labels = {"app": "web"}
    labels.update(extra_labels or {})
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "web",
            "labels": labels,
            "resourceVersion": "1",
            "managedFields": [
                {"manager": ME, "operation": "Apply", "fieldsV1": copy.deepcopy(DEPLOYMENT_FIELDS)},
                {"manager": "kube-controller-manager", "operation": "Update", "subresource": "status",
                 "fieldsV1": {"f:status": {"f:replicas": {}}}},
            ],
        },
        "spec": {
            "replicas": replicas,
            "template": {"spec": {"containers": [{"name": "sidecar", "image": "busybox:1"}, {"name": "web", "image": image, "ports": [{"containerPort": 80}]}]}},
        },
        "status": status or {"replicas": 0},
    }


def test_manager_fields_merges_only_my_apply_entries():
    assert manager_fields(deployment(), ME) == DEPLOYMENT_FIELDS
    assert manager_fields(deployment(), "kube-controller-manager") == {}
    assert manager_fields(None, ME) == {}


def test_projection_follows_keyed_list_items():
    projected = project(deployment(), DEPLOYMENT_FIELDS)
    container = projected["f:spec"]["f:template"]["f:spec"]["f:containers"]['k:{"name":"web"}']
    assert container == {"f:image": "nginx:1.27", "f:name": "web"}


def test_status_written_by_a_controller_is_not_a_change():
    assert not owned_change(deployment(), deployment(status={"replicas": 3, "readyReplicas": 3}), ME)


def test_a_label_added_by_another_manager_is_not_a_change():
    assert not owned_change(deployment(), deployment(extra_labels={"team": "x"}), ME)


def test_a_changed_owned_value_is_a_change():
    assert owned_change(deployment(), deployment(image="nginx:1.28"), ME)
    assert owned_change(deployment(replicas=3), deployment(replicas=5), ME)


def test_a_dropped_owned_field_is_a_change():
    before = deployment()
    after = deployment()
    del after["spec"]["replicas"]
    after["metadata"]["managedFields"][0]["fieldsV1"]["f:spec"].pop("f:replicas")
    assert owned_change(before, after, ME)


def test_creation_is_a_change():
    assert owned_change(None, deployment(), ME)


def test_set_and_index_elements():
    fields = {"f:spec": {"f:finalizers": {'v:"a"': {}}, "f:args": {"i:1": {}}}}
    value = {"spec": {"finalizers": ["b", "a"], "args": ["x", "y"]}}
    assert project(value, fields) == {"f:spec": {"f:args": {"i:1": "y"}, "f:finalizers": {'v:"a"': "a"}}}
    assert project({"spec": {"finalizers": ["b"], "args": ["x"]}}, fields) == {
        "f:spec": {"f:args": {"i:1": "<absent>"}, "f:finalizers": {'v:"a"': "<absent>"}}
    }


def test_merge_fields_is_a_union():
    left = {"f:a": {"f:b": {}}}
    right = {"f:a": {"f:c": {}}, "f:d": {}}
    assert merge_fields(left, right) == {"f:a": {"f:b": {}, "f:c": {}}, "f:d": {}}


def test_owned_view_keeps_shape():
    view = owned_view(deployment(), DEPLOYMENT_FIELDS)
    assert view == {
        "metadata": {"labels": {"app": "web"}},
        "spec": {"replicas": 3, "template": {"spec": {"containers": [{"image": "nginx:1.27", "name": "web"}]}}},
    }
    assert owned_view(None, DEPLOYMENT_FIELDS) is None


# -- apply_is_noop: when a re-apply can be skipped ------------------------------------------------

MANAGER = "orchestrate.platform"


def live_service(managed: Dict[str, Any]) -> Dict[str, Any]:
    return {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "s", "namespace": "web", "uid": "u", "managedFields": [
            {"manager": MANAGER, "operation": "Apply", "fieldsV1": managed}]},
        "spec": {"clusterIP": "10.0.0.1", "selector": {"app": "a"},
                 "ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": "http"}]},
    }


SERVICE_FIELDS = {"f:spec": {"f:selector": {}, "f:ports": {'k:{"port":80,"protocol":"TCP"}': {
    ".": {}, "f:name": {}, "f:port": {}, "f:targetPort": {}}}}}
DESIRED = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s", "namespace": "web"},
           "spec": {"selector": {"app": "a"}, "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}}


def test_noop_when_every_rendered_value_is_live_and_nothing_else_is_owned() -> None:
    # protocol is defaulted by the server and is part of the port's key: not required in the template
    assert apply_is_noop(DESIRED, live_service(SERVICE_FIELDS), MANAGER)


def test_not_noop_when_a_value_differs() -> None:
    desired = copy.deepcopy(DESIRED)
    desired["spec"]["ports"][0]["targetPort"] = 8080
    assert not apply_is_noop(desired, live_service(SERVICE_FIELDS), MANAGER)


def test_not_noop_when_an_owned_field_is_no_longer_rendered() -> None:
    fields = copy.deepcopy(SERVICE_FIELDS)
    fields["f:spec"]["f:sessionAffinity"] = {}
    live = live_service(fields)
    live["spec"]["sessionAffinity"] = "ClientIP"
    assert not apply_is_noop(DESIRED, live, MANAGER)


def test_not_noop_for_objects_the_manager_never_applied_or_another_version() -> None:
    live = live_service(SERVICE_FIELDS)
    live["metadata"]["managedFields"][0]["manager"] = "someone-else"
    assert not apply_is_noop(DESIRED, live, MANAGER)
    assert not apply_is_noop(dict(DESIRED, apiVersion="v2"), live_service(SERVICE_FIELDS), MANAGER)
    assert not apply_is_noop(DESIRED, None, MANAGER)


def test_contains_answers_no_on_doubt() -> None:
    assert contains({"a": [1, 2], "b": "x"}, {"a": [1, 2]})
    assert not contains({"a": [1, 2, 3]}, {"a": [1, 2]})  # another manager's list element, or a removal
    assert not contains({"a": 1}, {"a": True}) and not contains({"a": "1"}, {"a": 1})
    assert not contains({"a": None}, {"a": None})  # an explicit null: let the server decide

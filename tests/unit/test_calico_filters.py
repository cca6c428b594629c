"""plugins/filter/calico.py: the selector of the metadata block's declared needs."""

from __future__ import annotations

import pytest

from ansible_collections.orchestrate.platform.plugins.filter.calico import CalicoFilterError, calico_pods_selector


def test_each_endpoint_is_its_namespace_and_labels_and_they_are_alternatives() -> None:
    endpoints = [{"name": "dns", "namespace": "kube-system", "pods": {"k8s-app": "kube-dns"}},
                 {"name": "csi", "namespace": "storage", "pods": {"b": "2", "a": "1"}}]
    assert calico_pods_selector(endpoints) == (
        '(projectcalico.org/namespace == "kube-system" && k8s-app == "kube-dns")'
        ' || (projectcalico.org/namespace == "storage" && a == "1" && b == "2")')


def test_no_endpoint_gives_an_empty_selector() -> None:
    assert calico_pods_selector([]) == ""


@pytest.mark.parametrize("endpoint", [{"name": "x", "addresses": "metadata"}, {"name": "y", "namespace": "n", "pods": {}},
                                      {"name": "z", "pods_anywhere": True}])
def test_an_endpoint_that_is_not_pods_is_refused(endpoint: dict) -> None:
    with pytest.raises(CalicoFilterError, match=endpoint["name"]):
        calico_pods_selector([endpoint])

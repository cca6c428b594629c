"""Calico helpers for the network_policies role.

- ``calico_pods_selector``: a Calico selector expression matching the pods of the given matrix
  endpoints (each a namespace and pod labels), for a GlobalNetworkPolicy's ``selector``.
"""

from __future__ import annotations

import json
from typing import Any, Dict, Iterable, Mapping

# Label Calico puts on every workload endpoint: the pod's namespace.
NAMESPACE_LABEL = "projectcalico.org/namespace"


class CalicoFilterError(ValueError):
    """Raised for an endpoint that is not a set of pods."""


def _pods(endpoint: Mapping[str, Any]) -> str:
    namespace, pods = endpoint.get("namespace"), endpoint.get("pods")
    if not namespace or not isinstance(pods, Mapping) or not pods:
        raise CalicoFilterError("endpoint %r is not a namespace with pod labels" % endpoint.get("name"))
    terms = ["%s == %s" % (NAMESPACE_LABEL, json.dumps(str(namespace)))]
    terms += ["%s == %s" % (key, json.dumps(str(value))) for key, value in sorted(pods.items())]
    return " && ".join(terms)


def calico_pods_selector(endpoints: Iterable[Mapping[str, Any]]) -> str:
    """``(ns && labels) || (...)`` for the endpoints, in their order; "" for none (a selector that
    a template must not render: Calico reads an empty selector as all())."""
    return " || ".join("(%s)" % _pods(endpoint) for endpoint in endpoints or [])


class FilterModule:
    """Calico helpers."""

    def filters(self) -> Dict[str, Any]:
        return {"calico_pods_selector": calico_pods_selector}

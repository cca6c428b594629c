"""Security rules over rendered objects, as small checks returning problems ([] when they hold),
so that the tests run them on the rendered platform and on small broken examples."""

from __future__ import annotations

from typing import Any, Dict, Iterable, List, Mapping, Set

from evaluator import Evaluator
from matrix import Analysis, Matrix, pod_template

Obj = Dict[str, Any]
REASON_ANNOTATION = "orchestrate.platform/pod-security-reason"
ENDPOINT_ANNOTATION = "orchestrate.platform/matrix-endpoint"
# Namespaces the platform does not render but whose components must run privileged.
SYSTEM_NAMESPACES = ("kube-system", "calico-system", "tigera-operator")
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob", "ReplicaSet", "Pod")
ANYWHERE = ("0.0.0.0/0", "::/0")


def where(obj: Obj) -> str:
    meta = obj.get("metadata") or {}
    return "%s %s/%s" % (obj.get("kind"), meta.get("namespace"), meta.get("name"))


def is_baseline(policy: Obj) -> bool:
    """The namespaces role's policies: default-deny and DNS egress (they select every pod)."""
    return (policy.get("spec") or {}).get("podSelector") in ({}, None)


def pods_without_policy(analysis: Analysis, policies: Iterable[Obj]) -> List[str]:
    """Every pod of an endpoint with flows of its own is selected by a policy beyond the baseline."""
    own = Evaluator([p for p in policies if not is_baseline(p)], {})
    rendered_flows = [f for f in analysis.matrix.enabled_flows() if not f.get("rendered_by")]
    problems = []
    for endpoint, members in sorted(analysis.members.items()):
        if not any(endpoint in (f["from"], f["to"]) for f in rendered_flows):
            continue
        # Endpoints marked `policy: false` are not the platform's pods (the cluster DNS): flows to
        # them are rendered only on the other side.
        if analysis.matrix.endpoints.get(endpoint, {}).get("policy", True) is False:
            continue
        for name in members:
            node = analysis.node(name)
            if not own.selecting(node, "Ingress") and not own.selecting(node, "Egress"):
                problems.append("%s (%s) has flows in the matrix but no NetworkPolicy beyond default-deny selects it"
                                % (analysis.rendered.get(name, name), endpoint))
    return problems


def open_egress_problems(policies: Iterable[Obj], matrix: Matrix) -> List[str]:
    """An egress rule to 0.0.0.0/0 (or ::/0) only in the policy of an endpoint with an enabled flow to `external`."""
    to_external = {f["from"] for f in matrix.enabled_flows()
                   if matrix.endpoints.get(f["to"], {}).get("addresses") == "external"}
    problems = []
    for policy in policies:
        endpoint = ((policy.get("metadata") or {}).get("annotations") or {}).get(ENDPOINT_ANNOTATION)
        for rule in (policy.get("spec") or {}).get("egress") or []:
            for peer in rule.get("to") or []:
                cidr = (peer.get("ipBlock") or {}).get("cidr")
                if cidr in ANYWHERE and endpoint not in to_external:
                    problems.append("%s allows egress to %s without a flow to external in the matrix" % (where(policy), cidr))
            if not rule.get("to") and endpoint not in to_external:
                problems.append("%s has an egress rule without `to` (anywhere) and no flow to external in the matrix" % where(policy))
    return problems


def pod_spec(workload: Obj) -> Obj:
    return pod_template(workload).get("spec") or {}


def containers(workload: Obj) -> List[Obj]:
    spec = pod_spec(workload)
    return list(spec.get("initContainers") or []) + list(spec.get("containers") or [])


def privileged_namespaces(namespaces: Iterable[Obj]) -> Set[str]:
    """Namespaces that may run privileged pods: the system ones, and the platform's that enforce
    `privileged` and say why (the namespaces role's reason annotation)."""
    allowed = set(SYSTEM_NAMESPACES)
    for ns in namespaces:
        meta = ns.get("metadata") or {}
        if ((meta.get("labels") or {}).get("pod-security.kubernetes.io/enforce") == "privileged"
                and ((meta.get("annotations") or {}).get(REASON_ANNOTATION) or "").strip()):
            allowed.add(meta["name"])
    return allowed


def privileged_problems(workloads: Iterable[Obj], allowed: Set[str]) -> List[str]:
    problems = []
    for w in workloads:
        if (w.get("metadata") or {}).get("namespace") in allowed:
            continue
        spec = pod_spec(w)
        for flag in ("hostNetwork", "hostPID", "hostIPC"):
            if spec.get(flag):
                problems.append("%s uses %s outside the privileged namespaces %s" % (where(w), flag, sorted(allowed)))
        for c in containers(w):
            if (c.get("securityContext") or {}).get("privileged"):
                problems.append("%s container %s is privileged outside %s" % (where(w), c.get("name"), sorted(allowed)))
    return problems


def endpoint_of_workload(analysis: Analysis, workload: Obj) -> Any:
    """The matrix endpoint a rendered workload's pods belong to (None when none)."""
    node = next((n for n, r in analysis.rendered.items() if r == where(workload)), None)
    return next((ep for ep, members in analysis.members.items() if node in members), None)


def needs_api(analysis: Analysis, workload: Obj) -> bool:
    """The workload's endpoint has an enabled flow to the API server."""
    endpoint = endpoint_of_workload(analysis, workload)
    api = [e for e, ep in analysis.matrix.endpoints.items() if ep.get("addresses") == "apiserver"]
    return endpoint is not None and any(f["from"] == endpoint and f["to"] in api for f in analysis.matrix.enabled_flows())


def token_problems(workloads: Iterable[Obj], service_accounts: Iterable[Obj], owned: Iterable[str],
                   needs: Any) -> List[str]:
    """Pods of the platform's namespaces mount no API token unless `needs(workload)` says they use the API."""
    accounts: Mapping[Any, Obj] = {((sa.get("metadata") or {}).get("namespace"), (sa.get("metadata") or {}).get("name")): sa
                                   for sa in service_accounts}
    problems = []
    for w in workloads:
        namespace = (w.get("metadata") or {}).get("namespace")
        if namespace not in set(owned) or needs(w):
            continue
        spec = pod_spec(w)
        mounted = spec.get("automountServiceAccountToken")
        if mounted is None:
            account = accounts.get((namespace, spec.get("serviceAccountName") or "default"), {})
            mounted = account.get("automountServiceAccountToken")
        if mounted is not False:
            problems.append("%s mounts a service account token but has no flow to the API server in the matrix "
                            "(set automountServiceAccountToken: false)" % where(w))
    return problems


def unmatched_workloads(analysis: Analysis) -> List[str]:
    return ["%s is in no endpoint of network_policies_matrix (add the endpoint and its flows)" % w for w in analysis.unmatched]


def rbac_problems(objects: Iterable[Obj]) -> List[str]:
    """Least privilege for the platform's own roles: no wildcards, no binding to cluster-admin."""
    problems = []
    for obj in objects:
        if obj.get("kind") in ("Role", "ClusterRole"):
            for rule in obj.get("rules") or []:
                for key in ("verbs", "resources", "apiGroups"):
                    if "*" in (rule.get(key) or []):
                        problems.append("%s grants '*' in %s" % (where(obj), key))
        if obj.get("kind") in ("RoleBinding", "ClusterRoleBinding"):
            if (obj.get("roleRef") or {}).get("name") == "cluster-admin":
                problems.append("%s binds cluster-admin" % where(obj))
    return problems

"""Rules every rendered object of the platform must follow, as small checks returning problems.

Each check takes objects and returns human-readable problems ([] when the rule holds), so the
same function is run over the rendered platform and over small broken examples in the tests.
"""

from __future__ import annotations

import re
from typing import Any, Dict, Iterable, List, Optional

Obj = Dict[str, Any]

MANAGED_BY = ("app.kubernetes.io/managed-by", "orchestrate.platform")
PSS_MODES = ("enforce", "audit", "warn")
PSS_LEVELS = ("privileged", "baseline", "restricted")
REASON_ANNOTATION = "orchestrate.platform/pod-security-reason"
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob")
LONG_RUNNING = ("Deployment", "StatefulSet", "DaemonSet")
# registry host (with a dot, or localhost) / repository : tag, optionally @sha256 digest
PINNED_IMAGE = re.compile(r"^(localhost|[a-z0-9-]+(\.[a-z0-9-]+)+)(:[0-9]+)?/[a-z0-9._/-]+:[A-Za-z0-9._-]+(@sha256:[a-f0-9]{64})?$")


def name(obj: Obj) -> str:
    meta = obj.get("metadata") or {}
    where = meta.get("namespace")
    return "%s %s" % (obj.get("kind"), "%s/%s" % (where, meta.get("name")) if where else meta.get("name"))


def labels(obj: Obj) -> Dict[str, str]:
    return (obj.get("metadata") or {}).get("labels") or {}


# -- labels and namespaces ---------------------------------------------------------------


def missing_managed_by(objects: Iterable[Obj]) -> List[str]:
    key, value = MANAGED_BY
    return ["%s lacks %s=%s" % (name(obj), key, value) for obj in objects if labels(obj).get(key) != value]


def pod_security_problems(namespace: Obj) -> List[str]:
    found = labels(namespace)
    problems = []
    for mode in PSS_MODES:
        level = found.get("pod-security.kubernetes.io/%s" % mode)
        version = found.get("pod-security.kubernetes.io/%s-version" % mode, "")
        if level not in PSS_LEVELS:
            problems.append("%s: pod-security %s level is %r" % (name(namespace), mode, level))
        if not re.fullmatch(r"latest|v1\.[0-9]+", version):
            problems.append("%s: pod-security %s-version is %r" % (name(namespace), mode, version))
    enforce = found.get("pod-security.kubernetes.io/enforce")
    reason = ((namespace.get("metadata") or {}).get("annotations") or {}).get(REASON_ANNOTATION)
    if enforce != "restricted" and not reason:
        problems.append("%s enforces %s without a %s annotation" % (name(namespace), enforce, REASON_ANNOTATION))
    return problems


def is_default_deny(policy: Obj) -> bool:
    spec = policy.get("spec") or {}
    return (
        spec.get("podSelector") in ({}, None)
        and sorted(spec.get("policyTypes") or []) == ["Egress", "Ingress"]
        and not spec.get("ingress")
        and not spec.get("egress")
    )


def allows_dns(policy: Obj, dns_namespace: str) -> bool:
    spec = policy.get("spec") or {}
    if spec.get("podSelector") not in ({}, None) or "Egress" not in (spec.get("policyTypes") or []):
        return False
    for rule in spec.get("egress") or []:
        ports = {(p.get("protocol", "TCP"), p.get("port")) for p in rule.get("ports") or []}
        peers = rule.get("to") or []
        to_dns = any(
            (peer.get("namespaceSelector") or {}).get("matchLabels", {}).get("kubernetes.io/metadata.name") == dns_namespace
            for peer in peers
        )
        if to_dns and {("UDP", 53), ("TCP", 53)} <= ports:
            return True
    return False


def baseline_policy_problems(namespaces: Iterable[str], policies: Iterable[Obj], dns_namespace: str) -> List[str]:
    by_namespace: Dict[str, List[Obj]] = {}
    for policy in policies:
        by_namespace.setdefault((policy.get("metadata") or {}).get("namespace", ""), []).append(policy)
    problems = []
    for namespace in namespaces:
        own = by_namespace.get(namespace, [])
        if not any(is_default_deny(p) for p in own):
            problems.append("namespace %s has no default-deny ingress+egress NetworkPolicy" % namespace)
        if not any(allows_dns(p, dns_namespace) for p in own):
            problems.append("namespace %s does not allow DNS egress to %s on 53/UDP+TCP" % (namespace, dns_namespace))
    return problems


def foreign_namespaces(objects: Iterable[Obj], owned: Iterable[str], allowed: Iterable[str] = ("kube-system",)) -> List[str]:
    known = set(owned) | set(allowed)
    return [
        "%s is in namespace %s which the platform does not render" % (name(obj), obj["metadata"]["namespace"])
        for obj in objects
        if (obj.get("metadata") or {}).get("namespace") and obj["metadata"]["namespace"] not in known
    ]


# -- workloads ---------------------------------------------------------------------------


def pod_spec(workload: Obj) -> Obj:
    spec = workload.get("spec") or {}
    if workload.get("kind") == "CronJob":
        spec = ((spec.get("jobTemplate") or {}).get("spec")) or {}
    return ((spec.get("template") or {}).get("spec")) or {}


def containers(workload: Obj) -> List[Obj]:
    spec = pod_spec(workload)
    return list(spec.get("initContainers") or []) + list(spec.get("containers") or [])


# Capabilities Pod Security's baseline level lets a container add (Pod Security Standards,
# "Capabilities"); anything else needs privileged.
BASELINE_CAPABILITIES = frozenset({"AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD", "NET_BIND_SERVICE",
                                   "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"})


def host_access(workload: Obj) -> List[str]:
    """What in a workload's pod template Pod Security's baseline level refuses because it reaches
    the node: host namespaces, hostPath volumes, host ports, privileged containers and capabilities
    beyond baseline's list ([] for a pod that baseline admits on these points)."""
    spec = pod_spec(workload)
    found = [flag for flag in ("hostNetwork", "hostPID", "hostIPC") if spec.get(flag)]
    found += ["hostPath volume %s" % v.get("name") for v in spec.get("volumes") or [] if "hostPath" in v]
    for c in containers(workload):
        context = c.get("securityContext") or {}
        if context.get("privileged"):
            found.append("privileged container %s" % c.get("name"))
        extra = sorted(set((context.get("capabilities") or {}).get("add") or []) - BASELINE_CAPABILITIES)
        if extra:
            found.append("container %s adds %s" % (c.get("name"), ", ".join(extra)))
        found += ["container %s hostPort %s" % (c.get("name"), port["hostPort"]) for port in c.get("ports") or [] if port.get("hostPort")]
    return found


def image_problems(workload: Obj) -> List[str]:
    return [
        "%s container %s: image %r is not pinned with a registry prefix and a tag" % (name(workload), c.get("name"), c.get("image"))
        for c in containers(workload)
        if not PINNED_IMAGE.match(str(c.get("image", ""))) or ":latest" in str(c.get("image", ""))
    ]


def resource_problems(workload: Obj) -> List[str]:
    problems = []
    for c in containers(workload):
        resources = c.get("resources") or {}
        for part, keys in (("requests", ("cpu", "memory")), ("limits", ("memory",))):
            missing = [k for k in keys if k not in (resources.get(part) or {})]
            if missing:
                problems.append("%s container %s: no %s %s" % (name(workload), c.get("name"), part, "/".join(missing)))
    return problems


def probe_problems(workload: Obj) -> List[str]:
    if workload.get("kind") not in LONG_RUNNING:
        return []
    return [
        "%s container %s: no %s" % (name(workload), c.get("name"), probe)
        for c in pod_spec(workload).get("containers") or []
        for probe in ("readinessProbe", "livenessProbe")
        if probe not in c
    ]


def security_context_problems(workload: Obj, privileged_namespaces: Iterable[str]) -> List[str]:
    if (workload.get("metadata") or {}).get("namespace") in set(privileged_namespaces):
        return []
    pod_context = pod_spec(workload).get("securityContext") or {}
    problems = []
    for c in containers(workload):
        context = c.get("securityContext") or {}
        if not (context.get("runAsNonRoot") or pod_context.get("runAsNonRoot")):
            problems.append("%s container %s: runAsNonRoot not set" % (name(workload), c.get("name")))
        if context.get("allowPrivilegeEscalation") is not False:
            problems.append("%s container %s: allowPrivilegeEscalation not false" % (name(workload), c.get("name")))
        if "ALL" not in ((context.get("capabilities") or {}).get("drop") or []):
            problems.append("%s container %s: capabilities not dropped (ALL)" % (name(workload), c.get("name")))
    return problems


def secret_env_problems(workload: Obj, only: Optional[Iterable[str]] = None) -> List[str]:
    """Secrets reach containers as mounted files: no variable (env or envFrom) of the containers
    (all, or those named in `only`) takes its value from a Secret."""
    wanted = set(only) if only is not None else None
    problems = []
    for c in containers(workload):
        if wanted is not None and c.get("name") not in wanted:
            continue
        for env in c.get("env") or []:
            if (env.get("valueFrom") or {}).get("secretKeyRef"):
                problems.append("%s container %s: %s takes its value from Secret %s" % (
                    name(workload), c.get("name"), env["name"], env["valueFrom"]["secretKeyRef"].get("name")))
        for source in c.get("envFrom") or []:
            if source.get("secretRef"):
                problems.append("%s container %s: envFrom a whole Secret" % (name(workload), c.get("name")))
    return problems


def secret_file_problems(workload: Obj, container_name: str, secret: Obj) -> List[str]:
    """Every *_FILE variable of the container names a file of a mounted volume of `secret` whose
    key the Secret has."""
    pod = pod_spec(workload)
    c = next((c for c in containers(workload) if c.get("name") == container_name), None)
    if c is None:
        return ["%s has no container %s" % (name(workload), container_name)]
    volumes = {v["name"]: v for v in pod.get("volumes") or []}
    secret_name = (secret.get("metadata") or {}).get("name")
    keys = set((secret.get("stringData") or {})) | set((secret.get("data") or {}))
    mounts = {}
    for mount in c.get("volumeMounts") or []:
        source = (volumes.get(mount["name"]) or {}).get("secret") or {}
        if source.get("secretName") == secret_name:
            items = {i["path"]: i["key"] for i in source.get("items") or []} or {k: k for k in keys}
            mounts[mount["mountPath"].rstrip("/")] = items
    problems = []
    for env in c.get("env") or []:
        if not env["name"].endswith("_FILE"):
            continue
        path = str(env.get("value", ""))
        directory, _, file = path.rpartition("/")
        if directory not in mounts or file not in mounts[directory]:
            problems.append("%s container %s: %s=%s is not a file of a mounted Secret %s" % (name(workload), container_name, env["name"], path, secret_name))
        elif mounts[directory][file] not in keys:
            problems.append("%s container %s: %s names key %s, which Secret %s lacks" % (name(workload), container_name, env["name"], mounts[directory][file], secret_name))
    return problems


def read_only_root_problems(workload: Obj, container_name: str, writable: Iterable[str]) -> List[str]:
    """The container's root filesystem is read-only, and each path in `writable` is a mount of an
    emptyDir or a volume claim (where the program writes)."""
    pod = pod_spec(workload)
    c = next((c for c in containers(workload) if c.get("name") == container_name), None)
    if c is None:
        return ["%s has no container %s" % (name(workload), container_name)]
    problems = []
    if (c.get("securityContext") or {}).get("readOnlyRootFilesystem") is not True:
        problems.append("%s container %s: readOnlyRootFilesystem is not true" % (name(workload), container_name))
    volumes = {v["name"]: v for v in pod.get("volumes") or []}
    claims = {t["metadata"]["name"] for t in (workload.get("spec") or {}).get("volumeClaimTemplates") or []}
    mounted = {m["mountPath"]: m for m in c.get("volumeMounts") or []}
    for path in writable:
        mount = mounted.get(path)
        if mount is None or mount.get("readOnly"):
            problems.append("%s container %s: %s is not a writable mount" % (name(workload), container_name, path))
            continue
        volume = volumes.get(mount["name"]) or {}
        if not ("emptyDir" in volume or "persistentVolumeClaim" in volume or mount["name"] in claims):
            problems.append("%s container %s: %s is mounted from %s, not an emptyDir or a claim" % (name(workload), container_name, path, mount["name"]))
    return problems


def replicas(workload: Obj) -> int:
    return int((workload.get("spec") or {}).get("replicas", 1))


def selects(selector: Optional[Obj], pod_labels: Dict[str, str]) -> bool:
    match = (selector or {}).get("matchLabels") or {}
    return bool(match) and all(pod_labels.get(k) == v for k, v in match.items())


def template_labels(workload: Obj) -> Dict[str, str]:
    return (((workload.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("labels") or {}


def availability_problems(workload: Obj, budgets: Iterable[Obj]) -> List[str]:
    if workload.get("kind") not in ("Deployment", "StatefulSet") or replicas(workload) < 2:
        return []
    namespace = (workload.get("metadata") or {}).get("namespace")
    pods = template_labels(workload)
    problems = []
    if not any(
        (b.get("metadata") or {}).get("namespace") == namespace and selects((b.get("spec") or {}).get("selector"), pods)
        for b in budgets
    ):
        problems.append("%s has %d replicas and no PodDisruptionBudget selecting its pods" % (name(workload), replicas(workload)))
    affinity = (pod_spec(workload).get("affinity") or {}).get("podAntiAffinity") or {}
    spread = pod_spec(workload).get("topologySpreadConstraints") or []
    if not affinity and not spread:
        problems.append("%s has %d replicas and no pod anti-affinity or topology spread" % (name(workload), replicas(workload)))
    return problems

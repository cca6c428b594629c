"""What the monitoring live test reads from Prometheus and Alertmanager, as small typed functions
over their HTTP APIs' JSON (tests/live/test_monitoring_live.py fetches it from inside the pods;
tests/unit/test_prometheus_api.py runs the same functions against Debian's Prometheus and
Alertmanager on loopback).

- scrape targets: /api/v1/targets, the down ones with their errors;
- alerts: /api/v1/alerts (Prometheus) and /api/v2/alerts (Alertmanager), one alert's states;
- rules: /api/v1/rules, an alert's `for` and its group's evaluation interval;
- which scrape jobs must have targets: a job of the running configuration (/api/v1/status/config)
  is expected when its discovery would find something in the cluster's objects, decided by
  applying the job's own keep/drop/replace relabelling to the discovery labels of those objects
  (so an app that is not deployed is not expected, and a job that matches nothing it should
  is reported missing).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Set, Tuple

Labels = Mapping[str, str]
DURATION_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
DURATION = re.compile(r"(\d+)(ms|s|m|h|d|w|y)")


def payload(body: Mapping[str, Any]) -> Any:
    """The `data` of a Prometheus API answer; ValueError when the answer is an error."""
    if body.get("status") != "success":
        raise ValueError("Prometheus answered %s: %s" % (body.get("errorType", "an error"), body.get("error", body)))
    return body["data"]


def parse_duration(text: str) -> float:
    """Seconds of a Prometheus duration such as 30s, 1m30s, 500ms or 2h."""
    parts = DURATION.findall(text)
    if not text or "".join(number + unit for number, unit in parts) != text:
        raise ValueError("not a Prometheus duration: %r" % text)
    return sum(int(number) * DURATION_UNITS[unit] for number, unit in parts)


# -- scrape targets -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    job: str
    instance: str
    health: str
    last_error: str
    url: str


def active_targets(body: Mapping[str, Any]) -> List[Target]:
    """The active targets of a /api/v1/targets answer; `job` is the scrape pool (the job_name)."""
    return [Target(job=t["scrapePool"], instance=t["labels"].get("instance", ""), health=t["health"],
                   last_error=t.get("lastError", ""), url=t.get("scrapeUrl", ""))
            for t in payload(body)["activeTargets"]]


def down_targets(targets: Iterable[Target]) -> List[Target]:
    """Every target whose last scrape did not succeed (`down`, or `unknown`: never scraped yet)."""
    return sorted((t for t in targets if t.health != "up"), key=lambda t: (t.job, t.instance))


def describe_targets(targets: Iterable[Target]) -> str:
    return "; ".join("%s %s (%s): %s" % (t.job, t.instance, t.health, t.last_error or "no error recorded") for t in targets)


def target_jobs(targets: Iterable[Target]) -> Set[str]:
    return {t.job for t in targets}


# -- alerts and rules ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Alert:
    name: str
    state: str
    labels: Dict[str, str] = field(hash=False)


def _matches(labels: Labels, name: str, selector: Labels) -> bool:
    return labels.get("alertname") == name and all(labels.get(key) == value for key, value in selector.items())


def prometheus_alerts(body: Mapping[str, Any], name: str, selector: Labels) -> List[Alert]:
    """The alerts `name` of a /api/v1/alerts answer whose labels include `selector`; state
    `pending` (its `for` not yet over) or `firing`. A resolved alert is not listed."""
    return [Alert(name, a["state"], dict(a["labels"])) for a in payload(body)["alerts"] if _matches(a["labels"], name, selector)]


def alertmanager_alerts(body: Sequence[Mapping[str, Any]], name: str, selector: Labels) -> List[Alert]:
    """The same from Alertmanager's /api/v2/alerts (a list); state `active`, `suppressed`
    (silenced or inhibited) or `unprocessed`. Alertmanager leaves resolved alerts out."""
    return [Alert(name, a["status"]["state"], dict(a["labels"])) for a in body if _matches(a["labels"], name, selector)]


def states(alerts: Iterable[Alert]) -> Set[str]:
    return {a.state for a in alerts}


@dataclass(frozen=True)
class AlertRule:
    name: str
    query: str
    for_seconds: float
    interval_seconds: float


def alert_rule(body: Mapping[str, Any], name: str) -> AlertRule:
    """The alerting rule `name` of a /api/v1/rules answer: its expression, `for` and the
    evaluation interval of its group; KeyError when Prometheus has no such rule loaded."""
    for group in payload(body)["groups"]:
        for rule in group["rules"]:
            if rule.get("type") == "alerting" and rule["name"] == name:
                return AlertRule(name, rule["query"], float(rule.get("duration", 0)), float(group["interval"]))
    raise KeyError("Prometheus has no alerting rule %s loaded" % name)


# -- which jobs must have targets ---------------------------------------------------------------


@dataclass(frozen=True)
class Pod:
    namespace: str
    name: str
    labels: Dict[str, str] = field(hash=False)
    # Declared container ports (name, number); a container without ports is one port-free target.
    ports: Tuple[Tuple[str, int], ...] = ()
    portless_container: bool = False
    node: str = ""


@dataclass(frozen=True)
class EndpointSlice:
    namespace: str
    service: str
    # Port names, and the endpoints' node names (one entry per ready endpoint).
    ports: Tuple[str, ...] = ()
    endpoint_nodes: Tuple[str, ...] = ()


@dataclass(frozen=True)
class Inventory:
    """The running objects of a cluster that Kubernetes discovery would turn into targets."""
    nodes: Tuple[str, ...] = ()
    pods: Tuple[Pod, ...] = ()
    slices: Tuple[EndpointSlice, ...] = ()


def running_pod(pod: Any) -> Optional[Pod]:
    """A kubernetes.client V1Pod as discovery sees it; None unless it runs with an address."""
    if pod.status is None or pod.status.phase != "Running" or not pod.status.pod_ip:
        return None
    containers = pod.spec.containers
    return Pod(pod.metadata.namespace, pod.metadata.name, dict(pod.metadata.labels or {}),
               tuple((port.name or "", port.container_port) for c in containers for port in c.ports or []),
               any(not c.ports for c in containers), pod.spec.node_name or "")


def ready(endpoint: Any) -> bool:
    """A V1Endpoint of an EndpointSlice is ready unless its `ready` condition is false (unknown counts as ready, as for kube-proxy)."""
    return endpoint.conditions is None or endpoint.conditions.ready is not False


def service_slice(item: Any) -> EndpointSlice:
    """A kubernetes.client V1EndpointSlice: its Service, port names and ready endpoints' nodes."""
    return EndpointSlice(item.metadata.namespace, (item.metadata.labels or {}).get("kubernetes.io/service-name", ""),
                         tuple(port.name or "" for port in item.ports or []),
                         tuple(e.node_name or "" for e in item.endpoints or [] if ready(e)))


def cluster_inventory(nodes: Iterable[Any], pods: Iterable[Any], slices: Iterable[Any]) -> Inventory:
    """The Inventory of lists of kubernetes.client V1Node, V1Pod and V1EndpointSlice objects."""
    running = (running_pod(pod) for pod in pods)
    return Inventory(tuple(node.metadata.name for node in nodes), tuple(pod for pod in running if pod),
                     tuple(service_slice(item) for item in slices))


def _label_name(key: str) -> str:
    return re.sub(r"[^a-zA-Z0-9_]", "_", key)


def pod_labels(pod: Pod) -> List[Dict[str, str]]:
    """The discovery labels of each target Prometheus' `pod` role makes of a running pod."""
    base = {"__meta_kubernetes_namespace": pod.namespace, "__meta_kubernetes_pod_name": pod.name,
            "__meta_kubernetes_pod_node_name": pod.node}
    for key, value in pod.labels.items():
        base["__meta_kubernetes_pod_label_" + _label_name(key)] = value
        base["__meta_kubernetes_pod_labelpresent_" + _label_name(key)] = "true"
    sets = [dict(base, __meta_kubernetes_pod_container_port_name=name, __meta_kubernetes_pod_container_port_number=str(number))
            for name, number in pod.ports]
    return sets + ([dict(base)] if pod.portless_container else [])


def slice_labels(item: EndpointSlice) -> List[Dict[str, str]]:
    """The discovery labels of each target the `endpointslice` role makes (endpoint x port)."""
    return [{"__meta_kubernetes_namespace": item.namespace, "__meta_kubernetes_service_name": item.service,
             "__meta_kubernetes_endpointslice_port_name": port, "__meta_kubernetes_pod_node_name": node}
            for node in item.endpoint_nodes for port in item.ports]


def _expand(match: "re.Match[str]", replacement: str) -> str:
    """`replacement` with $1 / ${name} filled from the match (a group that does not exist is empty, as in Prometheus)."""
    def group(reference: "re.Match[str]") -> str:
        name = reference.group(1)
        try:
            return match.group(int(name) if name.isdigit() else name) or ""
        except IndexError:
            return ""
    return re.sub(r"\$\{?(\w+)\}?", group, replacement)


def relabel(labels: Dict[str, str], configs: Sequence[Mapping[str, Any]]) -> Optional[Dict[str, str]]:
    """`labels` after Prometheus' relabelling (actions keep, drop and replace), None when dropped.
    Another action raises ValueError: the expected-jobs check cannot tell, so it must not guess."""
    labels = dict(labels)
    for config in configs:
        action = config.get("action", "replace")
        value = config.get("separator", ";").join(labels.get(name, "") for name in config.get("source_labels", []))
        match = re.fullmatch(config.get("regex", "(.*)"), value)
        if action == "keep" and not match or action == "drop" and match:
            return None
        if action == "replace":
            if match:
                result = _expand(match, str(config.get("replacement", "$1")))
                labels.pop(config["target_label"], None)
                if result:
                    labels[config["target_label"]] = result
        elif action not in ("keep", "drop"):
            raise ValueError("relabel action %r is not modelled" % action)
    return labels


def _candidates(job: Mapping[str, Any], cluster: Inventory) -> List[Dict[str, str]]:
    candidates: List[Dict[str, str]] = []
    for group in job.get("static_configs", []):
        candidates += [dict(group.get("labels", {}), __address__=target) for target in group.get("targets", [])]
    for block in job.get("kubernetes_sd_configs", []):
        names = set((block.get("namespaces") or {}).get("names") or [])
        if block["role"] == "node":
            candidates += [{"__meta_kubernetes_node_name": node} for node in cluster.nodes]
        elif block["role"] == "pod":
            candidates += [labels for pod in cluster.pods if not names or pod.namespace in names for labels in pod_labels(pod)]
        elif block["role"] == "endpointslice":
            candidates += [labels for item in cluster.slices if not names or item.namespace in names for labels in slice_labels(item)]
        else:
            raise ValueError("job %s: kubernetes discovery role %r is not modelled" % (job["job_name"], block["role"]))
    unmodelled = set(job) & {"file_sd_configs", "dns_sd_configs", "http_sd_configs", "consul_sd_configs"}
    if unmodelled:
        raise ValueError("job %s: discovery %s is not modelled" % (job["job_name"], sorted(unmodelled)))
    return candidates


def expected_jobs(config: Mapping[str, Any], cluster: Inventory) -> Set[str]:
    """The jobs of a Prometheus configuration that must have at least one target in `cluster`:
    a static target, or a discovered object that the job's relabelling keeps."""
    expected = set()
    for job in config["scrape_configs"]:
        try:
            kept = [labels for labels in _candidates(job, cluster) if relabel(labels, job.get("relabel_configs", [])) is not None]
        except ValueError as exc:
            raise ValueError("job %s: %s" % (job["job_name"], exc)) from exc
        if kept:
            expected.add(job["job_name"])
    return expected


def scrape_interval(config: Mapping[str, Any], job_name: str) -> float:
    """Seconds between two scrapes of a job (its own interval or the global one)."""
    job = next(j for j in config["scrape_configs"] if j["job_name"] == job_name)
    return parse_duration(job.get("scrape_interval") or config.get("global", {}).get("scrape_interval", "1m"))

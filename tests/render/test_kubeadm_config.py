"""Render tests of the cluster stage: the kubeadm configuration of a 3-control-plane inventory,
the preflight checks of kubeadm_control_plane, kubeadm_join and calico, and the agreement of
kubeadm's pod subnet with Calico's IP pool. Everything runs offline through ansible-playbook."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import pytest
import yaml

from project import ROOT, run_playbook

pytestmark = pytest.mark.slow

ENDPOINT = "api.k8s.example.com:6443"
CLUSTER_VARS: Dict[str, Any] = {
    "platform_pod_cidr": "10.244.0.0/16",
    "platform_service_cidr": "10.96.0.0/12",
    "platform_node_cidr": "10.10.0.0/24",
    "platform_kube_version": "1.36.4",
    "platform_control_plane_endpoint": ENDPOINT,
}


def inventory(tmp_path: Path, control_planes: int = 3, workers: int = 2, **overrides: Any) -> Path:
    """A static inventory: localhost, `control_planes` control-plane nodes and `workers` workers, all local."""
    local = {"ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}"}
    data = {
        "all": {
            "vars": {**CLUSTER_VARS, **overrides},
            "hosts": {"localhost": dict(local)},
            "children": {
                "k8s_cluster": {
                    "children": {
                        "control_plane": {
                            "hosts": {"cp-%d" % i: {**local, "ansible_host": "10.10.0.1%d" % i} for i in range(1, control_planes + 1)}
                        },
                        "workers": {"hosts": {"worker-%d" % i: {**local, "ansible_host": "10.10.0.2%d" % i} for i in range(1, workers + 1)}},
                    }
                }
            },
        }
    }
    path = tmp_path / "inventory.yml"
    path.write_text(yaml.safe_dump(data))
    return path


def write_playbook(tmp_path: Path, plays: List[Dict[str, Any]]) -> Path:
    path = tmp_path / "playbook.yml"
    path.write_text(yaml.safe_dump(plays, sort_keys=False))
    return path


def preflight(tmp_path: Path, roles: List[str], inv: Path, extra_vars: Optional[Dict[str, Any]] = None):
    """Run the `preflight` entry point of each role on the controller, as playbooks/preflight.yml does."""
    tasks = [
        {"name": "Preflight of %s" % role, "ansible.builtin.include_role": {"name": "orchestrate.platform.%s" % role, "tasks_from": "preflight"}}
        for role in roles
    ]
    playbook = write_playbook(tmp_path, [{"name": "Preflight", "hosts": "localhost", "gather_facts": False, "tasks": tasks}])
    args = [str(playbook), "-i", str(inv)]
    if extra_vars:
        args += ["-e", json.dumps(extra_vars)]
    result = run_playbook(args)
    return result, result.stdout + result.stderr


def render_template(tmp_path: Path, inv: Path, template: str, play_vars: Optional[Dict[str, Any]] = None,
                    role: str = "kubeadm_control_plane", hosts: str = "control_plane[0]") -> str:
    """Template one of a role's kubeadm configurations with the role's own defaults and vars (after
    its preflight) and return the text exactly as it lands on the node."""
    out = tmp_path / template.replace(".j2", "")
    playbook = write_playbook(
        tmp_path,
        [
            {
                "name": "Render a kubeadm configuration",
                "hosts": hosts,
                "gather_facts": False,
                "vars": play_vars or {},
                "tasks": [
                    {
                        "name": "Check the settings and load the role's variables",
                        "ansible.builtin.include_role": {"name": "orchestrate.platform.%s" % role, "tasks_from": "preflight", "public": True},
                    },
                    {
                        "name": "Template the kubeadm configuration",
                        "ansible.builtin.template": {"src": str(ROOT / "roles" / role / "templates" / template), "dest": str(out), "mode": "0600"},
                        "run_once": True,
                    },
                ],
            }
        ],
    )
    result = run_playbook([str(playbook), "-i", str(inv)])
    assert result.returncode == 0, result.stdout + result.stderr
    return out.read_text()


def kubeadm_documents(text: str) -> List[Dict[str, Any]]:
    """Split a configuration the way kubeadm does - at every `---` line - and require every part to
    be one object with apiVersion and kind. kubeadm refuses a part without them (a part holding
    only a comment included): "kind and apiVersion is mandatory information that must be specified"."""
    docs = []
    for number, part in enumerate(re.split(r"(?m)^---[ \t]*$", text)):
        doc = yaml.safe_load(part)
        assert isinstance(doc, dict), "part %d of the kubeadm configuration is not an object (kubeadm rejects it): %r" % (number, part[:200])
        assert doc.get("apiVersion") and doc.get("kind"), "part %d has no apiVersion/kind: %r" % (number, part[:200])
        docs.append(doc)
    return docs


def render_kubeadm_config(tmp_path: Path, inv: Path, play_vars: Optional[Dict[str, Any]] = None) -> List[Dict[str, Any]]:
    """The init configuration of the first control-plane node, parsed the way kubeadm splits it."""
    return kubeadm_documents(render_template(tmp_path, inv, "kubeadm-config.yaml.j2", play_vars))


@pytest.fixture(scope="module")
def kubeadm_docs(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Dict[str, Any]]:
    tmp_path = tmp_path_factory.mktemp("kubeadm")
    docs = render_kubeadm_config(
        tmp_path,
        inventory(tmp_path),
        {"kubeadm_control_plane_cert_sans": ["10.10.0.11", "cp.internal.example.com"], "kubeadm_control_plane_advertise_address": "10.10.0.11"},
    )
    kinds = [doc["kind"] for doc in docs]
    assert len(kinds) == len(set(kinds)), kinds
    return {doc["kind"]: doc for doc in docs}


def extra_args(component: Dict[str, Any]) -> Dict[str, str]:
    args = component.get("extraArgs", [])
    assert isinstance(args, list), "v1beta4 extraArgs is a list of {name, value}"
    return {arg["name"]: arg["value"] for arg in args}


def test_every_document_parses_with_the_expected_api_versions(kubeadm_docs: Dict[str, Dict[str, Any]]) -> None:
    assert set(kubeadm_docs) == {"InitConfiguration", "ClusterConfiguration", "KubeletConfiguration", "KubeProxyConfiguration"}
    assert kubeadm_docs["InitConfiguration"]["apiVersion"] == "kubeadm.k8s.io/v1beta4"
    assert kubeadm_docs["ClusterConfiguration"]["apiVersion"] == "kubeadm.k8s.io/v1beta4"
    assert kubeadm_docs["KubeletConfiguration"]["apiVersion"] == "kubelet.config.k8s.io/v1beta1"
    assert kubeadm_docs["KubeProxyConfiguration"]["apiVersion"] == "kubeproxy.config.k8s.io/v1alpha1"


def test_cluster_configuration_endpoint_version_and_networks(kubeadm_docs: Dict[str, Dict[str, Any]]) -> None:
    cluster = kubeadm_docs["ClusterConfiguration"]
    assert cluster["controlPlaneEndpoint"] == ENDPOINT
    assert cluster["kubernetesVersion"] == "v1.36.4"
    assert cluster["networking"]["podSubnet"] == "10.244.0.0/16"
    assert cluster["networking"]["serviceSubnet"] == "10.96.0.0/12"
    assert kubeadm_docs["KubeProxyConfiguration"]["clusterCIDR"] == "10.244.0.0/16"


def test_certificate_sans_include_the_endpoint_host_and_extras(kubeadm_docs: Dict[str, Dict[str, Any]]) -> None:
    sans = kubeadm_docs["ClusterConfiguration"]["apiServer"]["certSANs"]
    assert sans == ["api.k8s.example.com", "10.10.0.11", "cp.internal.example.com"]


def test_the_certificate_also_names_the_external_endpoint_operators_use(tmp_path: Path) -> None:
    """On GCE the nodes' controlPlaneEndpoint is the internal API load balancer and operators come
    through the external one: the API server certificate must be valid for both."""
    docs = render_kubeadm_config(tmp_path, inventory(tmp_path, platform_control_plane_endpoint="10.240.0.100:6443",
                                                     platform_control_plane_external_endpoint="203.0.113.10:6443"))
    cluster = {d["kind"]: d for d in docs}["ClusterConfiguration"]
    assert cluster["controlPlaneEndpoint"] == "10.240.0.100:6443"
    assert cluster["apiServer"]["certSANs"] == ["10.240.0.100", "203.0.113.10"]


def test_preflight_rejects_a_bad_external_endpoint(tmp_path: Path) -> None:
    result, output = preflight(tmp_path, ["kubeadm_control_plane"], inventory(tmp_path, platform_control_plane_external_endpoint="203.0.113.10"))
    assert result.returncode != 0
    assert "kubeadm_control_plane_external_endpoint (platform_control_plane_external_endpoint): '203.0.113.10'" in output


def test_kubelet_uses_the_systemd_cgroup_driver(kubeadm_docs: Dict[str, Dict[str, Any]]) -> None:
    assert kubeadm_docs["KubeletConfiguration"]["cgroupDriver"] == "systemd"


def test_init_configuration_advertises_the_node_address(kubeadm_docs: Dict[str, Dict[str, Any]]) -> None:
    init = kubeadm_docs["InitConfiguration"]
    assert init["localAPIEndpoint"] == {"advertiseAddress": "10.10.0.11", "bindPort": 6443}
    assert init["nodeRegistration"]["criSocket"] == "unix:///run/containerd/containerd.sock"


def test_audit_logging_and_encryption_at_rest_are_on(kubeadm_docs: Dict[str, Dict[str, Any]]) -> None:
    apiserver = kubeadm_docs["ClusterConfiguration"]["apiServer"]
    args = extra_args(apiserver)
    assert args["audit-policy-file"] == "/etc/kubernetes/audit/policy.yaml"
    assert args["audit-log-path"] == "/var/log/kubernetes/audit/audit.log"
    assert args["audit-log-maxage"] == "30"
    assert args["audit-log-maxbackup"] == "10"
    assert args["audit-log-maxsize"] == "100"
    assert args["encryption-provider-config"] == "/etc/kubernetes/encryption/config.yaml"
    mounts = {volume["mountPath"]: volume for volume in apiserver["extraVolumes"]}
    assert {"/etc/kubernetes/audit", "/var/log/kubernetes/audit", "/etc/kubernetes/encryption"} <= set(mounts)
    assert mounts["/var/log/kubernetes/audit"]["readOnly"] is False
    assert mounts["/etc/kubernetes/encryption"]["readOnly"] is True


ADMISSION_FILE = "/etc/kubernetes/admission/config.yaml"


def test_the_api_server_reads_the_pod_security_default_from_a_read_only_directory(kubeadm_docs: Dict[str, Dict[str, Any]]) -> None:
    """Without --admission-control-config-file the API server's Pod Security default is privileged:
    a hostNetwork pod is admitted in every namespace without a label (issue 12 item 5)."""
    apiserver = kubeadm_docs["ClusterConfiguration"]["apiServer"]
    assert extra_args(apiserver)["admission-control-config-file"] == ADMISSION_FILE
    volumes = [v for v in apiserver["extraVolumes"] if v["mountPath"] == "/etc/kubernetes/admission"]
    assert volumes == [{"name": "admission-config", "hostPath": "/etc/kubernetes/admission",
                        "mountPath": "/etc/kubernetes/admission", "readOnly": True, "pathType": "Directory"}]


def render_admission(tmp_path: Path, play_vars: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    (admission,) = kubeadm_documents(render_template(tmp_path, inventory(tmp_path), "admission-config.yaml.j2", play_vars))
    return admission


def pod_security_configuration(admission: Dict[str, Any]) -> Dict[str, Any]:
    assert admission["apiVersion"] == "apiserver.config.k8s.io/v1"
    assert admission["kind"] == "AdmissionConfiguration"
    (plugin,) = admission["plugins"]
    assert plugin["name"] == "PodSecurity"
    configuration = plugin["configuration"]
    assert configuration["apiVersion"] == "pod-security.admission.config.k8s.io/v1"
    assert configuration["kind"] == "PodSecurityConfiguration"
    return configuration


def test_the_cluster_wide_pod_security_default_enforces_baseline(tmp_path: Path) -> None:
    configuration = pod_security_configuration(render_admission(tmp_path))
    assert configuration["defaults"] == {
        "enforce": "baseline", "enforce-version": "latest",
        "audit": "restricted", "audit-version": "latest",
        "warn": "restricted", "warn-version": "latest",
    }
    assert configuration["exemptions"] == {"usernames": [], "runtimeClasses": [], "namespaces": []}


def test_the_files_task_writes_the_admission_configuration_where_the_api_server_reads_it() -> None:
    role_vars = yaml.safe_load((ROOT / "roles/kubeadm_control_plane/vars/main.yml").read_text())
    assert role_vars["_kubeadm_control_plane_admission_path"] == ADMISSION_FILE
    assert role_vars["_kubeadm_control_plane_admission_dir"] == str(Path(ADMISSION_FILE).parent)
    tasks = yaml.safe_load((ROOT / "roles/kubeadm_control_plane/tasks/files.yml").read_text())
    written = [t["ansible.builtin.template"] for t in tasks if "ansible.builtin.template" in t]
    assert {"src": "admission-config.yaml.j2", "dest": "{{ _kubeadm_control_plane_admission_path }}",
            "owner": "root", "group": "root", "mode": "0600"} in written


def test_the_pod_security_default_and_exemptions_follow_the_variables(tmp_path: Path) -> None:
    configuration = pod_security_configuration(render_admission(tmp_path, {
        "kubeadm_control_plane_pod_security_enforce": "restricted",
        "kubeadm_control_plane_pod_security_version": "v1.36",
        "kubeadm_control_plane_pod_security_exempt_runtime_classes": ["gvisor"],
        "kubeadm_control_plane_pod_security_exempt_namespaces": ["legacy"],
    }))
    assert configuration["defaults"]["enforce"] == "restricted"
    assert {configuration["defaults"]["%s-version" % mode] for mode in ("enforce", "audit", "warn")} == {"v1.36"}
    assert configuration["exemptions"] == {"usernames": [], "runtimeClasses": ["gvisor"], "namespaces": ["legacy"]}


@pytest.mark.parametrize("variable,value", [
    ("kubeadm_control_plane_pod_security_enforce", "open"),
    ("kubeadm_control_plane_pod_security_warn", "Baseline"),
    ("kubeadm_control_plane_pod_security_version", "1.36"),
])
def test_preflight_rejects_a_bad_pod_security_default(tmp_path: Path, variable: str, value: str) -> None:
    result, output = preflight(tmp_path, ["kubeadm_control_plane"], inventory(tmp_path, **{variable: value}))
    assert result.returncode != 0
    assert variable in output


def test_control_plane_metrics_are_reachable_by_prometheus(kubeadm_docs: Dict[str, Dict[str, Any]]) -> None:
    cluster = kubeadm_docs["ClusterConfiguration"]
    assert extra_args(cluster["controllerManager"])["bind-address"] == "0.0.0.0"
    assert extra_args(cluster["scheduler"])["bind-address"] == "0.0.0.0"
    assert extra_args(cluster["etcd"]["local"])["listen-metrics-urls"] == "http://0.0.0.0:2381"
    assert kubeadm_docs["KubeProxyConfiguration"]["metricsBindAddress"] == "0.0.0.0:10249"


def test_overrides_merge_into_the_generated_configuration(tmp_path: Path) -> None:
    docs = render_kubeadm_config(
        tmp_path,
        inventory(tmp_path),
        {"kubeadm_control_plane_kubelet_configuration": {"maxPods": 64}, "kubeadm_control_plane_audit_enabled": False},
    )
    by_kind = {doc["kind"]: doc for doc in docs}
    assert by_kind["KubeletConfiguration"]["maxPods"] == 64
    assert by_kind["KubeletConfiguration"]["cgroupDriver"] == "systemd"
    args = extra_args(by_kind["ClusterConfiguration"]["apiServer"])
    assert "audit-log-path" not in args and "encryption-provider-config" in args


def test_preflight_accepts_a_valid_three_node_inventory(tmp_path: Path) -> None:
    result, output = preflight(tmp_path, ["kubeadm_control_plane", "kubeadm_join", "calico"], inventory(tmp_path))
    assert result.returncode == 0, output


def test_preflight_accepts_the_render_only_inventory_without_nodes(tmp_path: Path) -> None:
    result, output = preflight(tmp_path, ["kubeadm_control_plane", "kubeadm_join", "calico"], inventory(tmp_path, control_planes=0, workers=0))
    assert result.returncode == 0, output


def test_preflight_rejects_an_even_control_plane_count(tmp_path: Path) -> None:
    result, output = preflight(tmp_path, ["kubeadm_control_plane"], inventory(tmp_path, control_planes=2))
    assert result.returncode != 0
    assert "kubeadm_control_plane_group: group 'control_plane' has 2" in output


def test_preflight_rejects_overlapping_pod_and_service_cidrs(tmp_path: Path) -> None:
    result, output = preflight(tmp_path, ["kubeadm_control_plane"], inventory(tmp_path, platform_service_cidr="10.244.128.0/20"))
    assert result.returncode != 0
    assert "kubeadm_control_plane_pod_cidr (10.244.0.0/16) and kubeadm_control_plane_service_cidr (10.244.128.0/20)" in output


def test_preflight_rejects_a_node_cidr_overlapping_the_pods(tmp_path: Path) -> None:
    result, output = preflight(tmp_path, ["kubeadm_control_plane"], inventory(tmp_path, platform_node_cidr="10.0.0.0/8"))
    assert result.returncode != 0
    assert "kubeadm_control_plane_pod_cidr (10.244.0.0/16) and kubeadm_control_plane_node_cidr (10.0.0.0/8)" in output


def test_preflight_rejects_an_invalid_cidr(tmp_path: Path) -> None:
    result, output = preflight(tmp_path, ["kubeadm_control_plane"], inventory(tmp_path, platform_pod_cidr="10.244.0.1/16"))
    assert result.returncode != 0
    assert "kubeadm_control_plane_pod_cidr (platform_pod_cidr): '10.244.0.1/16' is not a network" in output


@pytest.mark.parametrize("version", ["v1.36.4", "1.36", "1.36.x", "2.0.0"])
def test_preflight_rejects_a_bad_kube_version(tmp_path: Path, version: str) -> None:
    result, output = preflight(tmp_path, ["kubeadm_control_plane"], inventory(tmp_path, platform_kube_version=version))
    assert result.returncode != 0
    assert "kubeadm_control_plane_kube_version (platform_kube_version): '%s'" % version in output


@pytest.mark.parametrize("endpoint", ["api.k8s.example.com", "api.k8s.example.com:99999", "https://api:6443"])
def test_preflight_rejects_a_bad_endpoint(tmp_path: Path, endpoint: str) -> None:
    result, output = preflight(tmp_path, ["kubeadm_control_plane"], inventory(tmp_path, platform_control_plane_endpoint=endpoint))
    assert result.returncode != 0
    assert "kubeadm_control_plane_endpoint (platform_control_plane_endpoint): '%s'" % endpoint in output


def test_control_plane_nodes_require_an_endpoint(tmp_path: Path) -> None:
    """Empty is tolerated on the controller before the infra stage, never on a control-plane node."""
    inv = inventory(tmp_path, platform_control_plane_endpoint="")
    result, output = preflight(tmp_path, ["kubeadm_control_plane"], inv)
    assert result.returncode == 0, output
    playbook = write_playbook(
        tmp_path,
        [{"name": "On a node", "hosts": "cp-1", "gather_facts": False,
          "tasks": [{"name": "Preflight", "ansible.builtin.include_role": {"name": "orchestrate.platform.kubeadm_control_plane", "tasks_from": "preflight"}}]}],
    )
    result = run_playbook([str(playbook), "-i", str(inv)])
    assert result.returncode != 0
    assert "kubeadm_control_plane_endpoint (platform_control_plane_endpoint): ''" in result.stdout + result.stderr


def test_calico_applies_only_pinned_manifests(tmp_path: Path) -> None:
    pinned, output = preflight(tmp_path, ["calico"], inventory(tmp_path), {"platform_mode": "apply"})
    assert pinned.returncode == 0, output
    unpinned = [{"name": "operator-crds.yaml", "url": "https://example.invalid/operator-crds.yaml", "checksum": ""}]
    result, output = preflight(tmp_path, ["calico"], inventory(tmp_path), {"platform_mode": "apply", "calico_manifests": unpinned})
    assert result.returncode != 0
    assert "calico_manifests[0] (operator-crds.yaml)" in output


def test_calico_ip_pool_is_the_kubeadm_pod_subnet(tmp_path: Path, kubeadm_docs: Dict[str, Dict[str, Any]]) -> None:
    """The calico role renders offline (no download, no network) and its pool matches kubeadm's podSubnet."""
    render_dir = tmp_path / "manifests"
    playbook = write_playbook(
        tmp_path,
        [{"name": "Render Calico", "hosts": "localhost", "gather_facts": False,
          "module_defaults": {"group/orchestrate.platform.k8s": {"mode": "render", "render_dir": str(render_dir)}},
          "roles": ["orchestrate.platform.calico"]}],
    )
    result = run_playbook([str(playbook), "-i", str(inventory(tmp_path)), "-e", json.dumps({"platform_cloud": "gce"})])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "calico: 2 upstream file(s) left out" in result.stdout
    installation = yaml.safe_load((render_dir / "platform/calico/20-installation-default.yaml").read_text())
    pool = installation["spec"]["calicoNetwork"]["ipPools"][0]
    assert pool["cidr"] == kubeadm_docs["ClusterConfiguration"]["networking"]["podSubnet"]
    assert pool["encapsulation"] == "VXLAN"
    assert pool["natOutgoing"] == "Enabled"
    assert installation["spec"]["calicoNetwork"]["bgp"] == "Disabled"
    felix = yaml.safe_load((render_dir / "platform/calico/30-felixconfiguration-default.yaml").read_text())
    assert felix["spec"]["prometheusMetricsEnabled"] is True


# --- Every configuration the roles hand to kubeadm: init, control-plane join, worker join, upgrade.

TOKEN = "abcdef.0123456789abcdef"
CA_HASH = "sha256:" + "0" * 64
CERT_KEY = "f" * 64
LABELS = {"topology.kubernetes.io/zone": "europe-west1-b", "topology.kubernetes.io/region": "europe-west1"}
JOIN_COMMAND = "kubeadm join %s --token %s --discovery-token-ca-cert-hash %s " % (ENDPOINT, TOKEN, CA_HASH)


@pytest.fixture(scope="module")
def configs(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, str]:
    """The text of each kubeadm configuration file the roles write, as it lands on the node."""
    tmp_path = tmp_path_factory.mktemp("kubeadm-configs")
    inv = inventory(tmp_path)
    texts = {
        "init": render_template(tmp_path, inv, "kubeadm-config.yaml.j2",
                                {"kubeadm_control_plane_advertise_address": "10.10.0.11", "__kubeadm_control_plane_node_labels": LABELS}),
        "join-control-plane": render_template(tmp_path, inv, "kubeadm-join.yaml.j2", {
            "kubeadm_control_plane_advertise_address": "10.10.0.12",
            "__kubeadm_control_plane_node_labels": LABELS,
            "__kubeadm_control_plane_discovery_endpoint": "10.10.0.11:6443",
            "__kubeadm_control_plane_join_token": TOKEN,
            "__kubeadm_control_plane_join_ca_hash": CA_HASH,
            "__kubeadm_control_plane_join_certificate_key": CERT_KEY,
        }),
        "upgrade": render_template(tmp_path, inv, "kubeadm-upgrade.yaml.j2"),
    }
    texts["join-worker"] = render_template(tmp_path, inv, "kubeadm-join.yaml.j2", {
        "kubeadm_join_node_name": "worker-1",
        "__kubeadm_join_node_labels": LABELS,
        "__kubeadm_join_discovery_endpoint": ENDPOINT,
        "__kubeadm_join_token": TOKEN,
        "__kubeadm_join_ca_hash": CA_HASH,
    }, role="kubeadm_join", hosts="workers[0]")
    return texts


def test_kubeadm_documents_refuses_a_part_without_kind() -> None:
    """The check itself: the layout kubeadm rejected (a comment, then `---`) fails it."""
    with pytest.raises(AssertionError, match="part 0"):
        kubeadm_documents("# Managed by orchestrate.platform\n---\napiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\n")
    with pytest.raises(AssertionError, match="part 1"):
        kubeadm_documents("apiVersion: v1\nkind: A\n---\nfoo: bar\n")


@pytest.mark.parametrize("name,kinds", [
    ("init", ["InitConfiguration", "ClusterConfiguration", "KubeletConfiguration", "KubeProxyConfiguration"]),
    ("join-control-plane", ["JoinConfiguration"]),
    ("join-worker", ["JoinConfiguration"]),
    ("upgrade", ["UpgradeConfiguration"]),
])
def test_every_part_of_every_kubeadm_configuration_has_kind_and_api_version(configs: Dict[str, str], name: str, kinds: List[str]) -> None:
    assert [doc["kind"] for doc in kubeadm_documents(configs[name])] == kinds


def test_control_plane_join_configuration(configs: Dict[str, str]) -> None:
    (join,) = kubeadm_documents(configs["join-control-plane"])
    assert join["apiVersion"] == "kubeadm.k8s.io/v1beta4"
    assert join["discovery"]["bootstrapToken"] == {"apiServerEndpoint": "10.10.0.11:6443", "token": TOKEN, "caCertHashes": [CA_HASH]}
    assert join["controlPlane"] == {"localAPIEndpoint": {"advertiseAddress": "10.10.0.12", "bindPort": 6443}, "certificateKey": CERT_KEY}
    assert join["nodeRegistration"]["criSocket"] == "unix:///run/containerd/containerd.sock"


def test_worker_join_configuration(configs: Dict[str, str]) -> None:
    (join,) = kubeadm_documents(configs["join-worker"])
    assert join["discovery"]["bootstrapToken"] == {"apiServerEndpoint": ENDPOINT, "token": TOKEN, "caCertHashes": [CA_HASH]}
    assert "controlPlane" not in join
    assert join["nodeRegistration"]["name"] == "worker-1"


@pytest.mark.parametrize("name,kind", [("init", "InitConfiguration"), ("join-control-plane", "JoinConfiguration"), ("join-worker", "JoinConfiguration")])
def test_kubelets_register_with_the_zone_and_region_labels(configs: Dict[str, str], name: str, kind: str) -> None:
    registration = [d for d in kubeadm_documents(configs[name]) if d["kind"] == kind][0]["nodeRegistration"]
    assert registration["kubeletExtraArgs"] == [
        {"name": "node-labels", "value": "topology.kubernetes.io/region=europe-west1,topology.kubernetes.io/zone=europe-west1-b"}]


def test_init_token_is_short_lived_and_marked_for_removal(kubeadm_docs: Dict[str, Dict[str, Any]]) -> None:
    """kubeadm init's own token would otherwise be valid 24 h; tokens.yml deletes it by its description."""
    tokens = kubeadm_docs["InitConfiguration"]["bootstrapTokens"]
    assert tokens == [{"description": "orchestrate.platform node join", "ttl": "15m"}]
    role_vars = yaml.safe_load((ROOT / "roles/kubeadm_control_plane/vars/main.yml").read_text())
    join_vars = yaml.safe_load((ROOT / "roles/kubeadm_join/vars/main.yml").read_text())
    assert role_vars["_kubeadm_control_plane_token_description"] == join_vars["_kubeadm_join_token_description"] == tokens[0]["description"]


def test_kubelets_get_serving_certificates_from_the_cluster_ca(kubeadm_docs: Dict[str, Dict[str, Any]]) -> None:
    assert kubeadm_docs["KubeletConfiguration"]["serverTLSBootstrap"] is True


def test_kubelets_shut_down_gracefully_within_the_gce_power_off_delay(kubeadm_docs: Dict[str, Dict[str, Any]]) -> None:
    """Graceful node shutdown: every kubelet reads this KubeletConfiguration from the kubelet-config
    ConfigMap kubeadm init writes (workers included); the periods fit GCE's 120 s from the ACPI
    shutdown of a standard VM to its power-off, critical pods (CSI node plugin) last."""
    kubelet = kubeadm_docs["KubeletConfiguration"]
    assert kubelet["shutdownGracePeriod"] == "90s"
    assert kubelet["shutdownGracePeriodCriticalPods"] == "20s"


@pytest.mark.parametrize("period,critical", [("90", "20s"), ("90s", "2 minutes"), ("30s", "45s"), ("500ms", "0s")])
def test_preflight_rejects_bad_shutdown_periods(tmp_path: Path, period: str, critical: str) -> None:
    inv = inventory(tmp_path, kubeadm_control_plane_shutdown_grace_period=period,
                    kubeadm_control_plane_shutdown_grace_period_critical_pods=critical)
    result, output = preflight(tmp_path, ["kubeadm_control_plane"], inv)
    assert result.returncode != 0
    assert "kubeadm_control_plane_shutdown_grace_period ('%s')" % period in output


def test_upgrade_configuration_names_the_target(configs: Dict[str, str]) -> None:
    (upgrade,) = kubeadm_documents(configs["upgrade"])
    assert upgrade["apply"]["kubernetesVersion"] == "v1.36.4"


# A real kubeadm of the target minor, when one is on PATH (never part of the project).
KUBEADM = shutil.which("kubeadm")
needs_kubeadm = pytest.mark.skipif(KUBEADM is None, reason="no kubeadm on PATH: the configurations are checked against kubeadm's own parser only when one is installed")


def kubeadm(*args: str, env: Optional[Dict[str, str]] = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(KUBEADM), *args], capture_output=True, text=True, timeout=300, check=False, env=env)


def kubeadm_dry_run(config: str, tmp_path: Path, *args: str) -> Tuple[subprocess.CompletedProcess, Path]:
    """Run `kubeadm <args> --config <config> --dry-run` with its files written to a directory of
    the test; returns the run (asserted successful) and that directory."""
    path = tmp_path / "init.yaml"
    path.write_text(config)
    dry_run = tmp_path / "dry-run"
    dry_run.mkdir()
    result = kubeadm(*args, "--config", str(path), "--dry-run", env=dict(os.environ, KUBEADM_INIT_DRYRUN_DIR=str(dry_run)))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result, dry_run


@needs_kubeadm
@pytest.mark.parametrize("name", ["init", "join-control-plane", "join-worker", "upgrade"])
def test_real_kubeadm_validates_the_configuration(configs: Dict[str, str], name: str, tmp_path: Path) -> None:
    path = tmp_path / ("%s.yaml" % name)
    path.write_text(configs[name])
    result = kubeadm("config", "validate", "--config", str(path))
    assert result.returncode == 0, result.stdout + result.stderr


@needs_kubeadm
def test_real_kubeadm_init_dry_run_runs_to_the_end(configs: Dict[str, str], tmp_path: Path) -> None:
    result, _ = kubeadm_dry_run(configs["init"], tmp_path, "init", "--ignore-preflight-errors=all", "--skip-phases=preflight")
    assert "Your Kubernetes control-plane has initialized successfully" in result.stdout
    assert "--node-labels=topology.kubernetes.io/region=europe-west1,topology.kubernetes.io/zone=europe-west1-b" in result.stdout


@needs_kubeadm
def test_real_kubeadm_writes_the_admission_flag_and_mount_into_the_api_server_manifest(configs: Dict[str, str], tmp_path: Path) -> None:
    _, dry_run = kubeadm_dry_run(configs["init"], tmp_path, "init", "phase", "control-plane", "apiserver")
    pod = yaml.safe_load((dry_run / "kube-apiserver.yaml").read_text())
    assert "--admission-control-config-file=%s" % ADMISSION_FILE in pod["spec"]["containers"][0]["command"]
    mounts = {m["name"]: m for m in pod["spec"]["containers"][0]["volumeMounts"]}
    assert mounts["admission-config"] == {"mountPath": "/etc/kubernetes/admission", "name": "admission-config", "readOnly": True}
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    assert volumes["admission-config"]["hostPath"] == {"path": "/etc/kubernetes/admission", "type": "Directory"}


@pytest.mark.parametrize("role,variable", [("kubeadm_control_plane", "kubeadm_control_plane_node_labels"), ("kubeadm_join", "kubeadm_join_node_labels")])
def test_preflight_refuses_labels_a_kubelet_may_not_set(tmp_path: Path, role: str, variable: str) -> None:
    """The kubelet would refuse to start with them (NodeRestriction's kubernetes.io namespaces)."""
    labels = {"node-role.kubernetes.io/worker": "", "topology.kubernetes.io/zone": "europe-west1-b"}
    result, output = preflight(tmp_path, [role], inventory(tmp_path), {variable: labels})
    assert result.returncode != 0
    assert "%s: ['node-role.kubernetes.io/worker']" % variable in output

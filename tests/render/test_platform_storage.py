"""The storage role as site.yml renders it: the StorageClasses the apps rely on, snapshots, and
the GCE PD CSI driver (the controller's own key mounted as a file, privileged node plugin)."""

from __future__ import annotations

from typing import Any, Dict, List

import hashlib
import json
from pathlib import Path

import pytest
import yaml

from project import ROOT, run_playbook
from rendered import Rendered, load_tree

Obj = Dict[str, Any]
PD = "pd.csi.storage.gke.io"
NFS = "nfs.csi.k8s.io"


def storage_objects(rendered: Rendered) -> List[Obj]:
    return [obj for path, objs in rendered.files.items() if path.startswith("platform/storage/") for obj in objs]


def one(objects: List[Obj], kind: str, name: str) -> Obj:
    found = [o for o in objects if o.get("kind") == kind and o["metadata"]["name"] == name]
    assert len(found) == 1, "expected one %s %s, found %d" % (kind, name, len(found))
    return found[0]


@pytest.fixture(scope="module")
def storage(rendered: Rendered) -> List[Obj]:
    found = storage_objects(rendered)
    assert found, "site.yml rendered nothing under platform/storage/ (is playbooks/platform.yml imported?)"
    return found


def test_default_class_is_balanced_pd_waiting_for_the_consumer(storage: List[Obj]) -> None:
    rwo = one(storage, "StorageClass", "standard-rwo")
    assert rwo["provisioner"] == PD
    assert rwo["parameters"]["type"] == "pd-balanced"
    assert rwo["volumeBindingMode"] == "WaitForFirstConsumer"
    assert rwo["allowVolumeExpansion"] is True
    assert rwo["reclaimPolicy"] == "Delete"
    assert rwo["metadata"]["annotations"]["storageclass.kubernetes.io/is-default-class"] == "true"


def test_only_one_default_class(rendered: Rendered) -> None:
    defaults = [sc["metadata"]["name"] for sc in rendered.of_kind("StorageClass")
                if (sc["metadata"].get("annotations") or {}).get("storageclass.kubernetes.io/is-default-class") == "true"]
    assert defaults == ["standard-rwo"]


def test_retain_variant_for_databases(storage: List[Obj]) -> None:
    retain = one(storage, "StorageClass", "standard-rwo-retain")
    rwo = one(storage, "StorageClass", "standard-rwo")
    assert retain["reclaimPolicy"] == "Retain"
    assert retain["provisioner"] == PD and retain["parameters"] == rwo["parameters"]
    assert retain["volumeBindingMode"] == "WaitForFirstConsumer" and retain["allowVolumeExpansion"] is True
    assert "storageclass.kubernetes.io/is-default-class" not in (retain["metadata"].get("annotations") or {})


def test_rwx_class_is_nfs_with_a_per_claim_directory(storage: List[Obj]) -> None:
    rwx = one(storage, "StorageClass", "shared-rwx")
    assert rwx["provisioner"] == NFS
    assert rwx["parameters"]["share"].startswith("/")
    assert "${pvc.metadata.name}" in rwx["parameters"]["subDir"]
    assert any(option.startswith("nfsvers=4") for option in rwx["mountOptions"])
    assert rwx["metadata"]["annotations"]["orchestrate.platform/rwx-backend"] in ("nfs-vm", "filestore")


def test_rwx_backend_default_is_documented() -> None:
    defaults = yaml.safe_load((ROOT / "roles/storage/defaults/main.yml").read_text())
    assert defaults["storage_rwx_backend"] == "{{ platform_rwx_backend | default('nfs-vm') }}"
    assert "storage_rwx_backend" in (ROOT / "docs/platform-services.md").read_text()


def test_every_pd_disk_is_labelled_with_the_cluster(storage: List[Obj]) -> None:
    # destroy.yml -e destroy_pvc_disks=yes deletes only disks labelled cluster=<gce_cluster_name>.
    for name in ("standard-rwo", "standard-rwo-retain"):
        assert one(storage, "StorageClass", name)["parameters"]["labels"] == "cluster=orchestrate"
    driver = [c for c in one(storage, "Deployment", "pd-csi-controller")["spec"]["template"]["spec"]["containers"]
              if c["name"] == "gce-pd-driver"][0]
    assert "--extra-labels=cluster=orchestrate" in driver["args"]


def test_snapshot_classes_for_both_drivers(storage: List[Obj]) -> None:
    classes = {c["driver"]: c for c in storage if c["kind"] == "VolumeSnapshotClass"}
    assert set(classes) == {PD, NFS}
    assert classes[PD]["metadata"]["annotations"]["snapshot.storage.kubernetes.io/is-default-class"] == "true"
    assert all(c["apiVersion"] == "snapshot.storage.k8s.io/v1" for c in classes.values())


def test_pd_controller_uses_its_own_key_mounted_as_a_file_not_the_node_account(storage: List[Obj]) -> None:
    controller = one(storage, "Deployment", "pd-csi-controller")
    spec = controller["spec"]["template"]["spec"]
    driver = [c for c in spec["containers"] if c["name"] == "gce-pd-driver"][0]
    env = {e["name"]: e.get("value") for e in driver.get("env") or []}
    assert env["GOOGLE_APPLICATION_CREDENTIALS"] == "/etc/pd-csi/cloud-sa/key.json"
    mounts = {m["name"]: m for m in driver["volumeMounts"]}
    assert mounts["cloud-sa"]["mountPath"] == "/etc/pd-csi/cloud-sa" and mounts["cloud-sa"]["readOnly"] is True
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert volumes["cloud-sa"]["secret"]["secretName"] == "pd-csi-cloud-sa"
    # Project and zone from a cloud-config, so the controller never needs the metadata server.
    assert "--cloud-config=/etc/pd-csi/cloud-config/cloud-config" in driver["args"]
    config = one(storage, "ConfigMap", volumes["cloud-config"]["configMap"]["name"])
    assert "[Global]" in config["data"]["cloud-config"] and "project-id = " in config["data"]["cloud-config"]
    # Only the driver container holds the key; the sidecars never see it.
    assert [c["name"] for c in spec["containers"] if any(m["name"] == "cloud-sa" for m in c.get("volumeMounts") or [])] == [
        "gce-pd-driver"]


UPSTREAM = [entry["name"] for entry in yaml.safe_load((ROOT / "roles/storage/defaults/main.yml").read_text())["storage_manifests"]]
OWN_TEMPLATES = sorted(path.name[:-len(".j2")] for path in (ROOT / "roles/storage/templates").glob("*.yaml.j2"))


def namespaces_by_origin(files: Dict[str, List[Obj]]) -> Dict[str, set]:
    """The namespaces of the storage role's rendered objects: from its own templates (the PD driver)
    and from the upstream files it downloads (snapshot controller, NFS CSI: kube-system, as upstream
    ships them). A file of neither kind is an error."""
    found: Dict[str, set] = {"own": set(), "upstream": set()}
    for path, objects in files.items():
        if not path.startswith("platform/storage/"):
            continue
        name = path.rsplit("/", 1)[1]
        origin = "own" if name in OWN_TEMPLATES else "upstream" if name in UPSTREAM else None
        assert origin, "%s comes from neither the role's templates nor storage_manifests" % path
        found[origin] |= {o["metadata"]["namespace"] for o in objects if o["metadata"].get("namespace")}
    return found


def assert_pd_driver_in_storage_namespace(files: Dict[str, List[Obj]]) -> None:
    namespaces = namespaces_by_origin(files)
    assert namespaces["own"] == {"storage"}
    assert namespaces["upstream"] <= {"kube-system"}


def test_pd_driver_lives_in_the_storage_namespace(storage: List[Obj], rendered: Rendered) -> None:
    assert_pd_driver_in_storage_namespace(rendered.files)
    csi = one(storage, "CSIDriver", PD)
    assert csi["spec"]["attachRequired"] is True


@pytest.fixture(scope="module")
def with_upstream_files(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, List[Obj]]:
    """The storage role rendered with its upstream files present: stand-ins (one kube-system
    object each, as the real NFS CSI and snapshot-controller files hold) served from file:// URLs
    with their own sha256, so the role's download path runs for real and nothing leaves the machine."""
    base = tmp_path_factory.mktemp("storage-upstream")
    served = base / "served"
    served.mkdir()
    manifests = []
    for name in UPSTREAM:
        text = yaml.safe_dump({"apiVersion": "v1", "kind": "ServiceAccount",
                               "metadata": {"name": name[:-len(".yaml")], "namespace": "kube-system"}})
        (served / name).write_text(text)
        manifests.append({"name": name, "url": (served / name).as_uri(), "checksum": hashlib.sha256(text.encode()).hexdigest()})
    build = base / "build"
    result = run_playbook(["site.yml", "--tags", "storage", "-e", "platform_upstream_fetch=yes",
                           "-e", json.dumps({"storage_manifests": manifests})], build_dir=build)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    return load_tree(build / "manifests")


def test_pd_driver_lives_in_the_storage_namespace_when_the_upstream_files_are_there(
        with_upstream_files: Dict[str, List[Obj]]) -> None:
    rendered_upstream = {path.rsplit("/", 1)[1] for path in with_upstream_files if path.startswith("platform/storage/")}
    assert set(UPSTREAM) <= rendered_upstream, "the upstream stand-ins were not rendered"
    assert_pd_driver_in_storage_namespace(with_upstream_files)
    assert namespaces_by_origin(with_upstream_files)["upstream"] == {"kube-system"}


def test_pd_node_plugin_is_privileged_with_bidirectional_kubelet_mount(storage: List[Obj], rendered: Rendered) -> None:
    node = one(storage, "DaemonSet", "pd-csi-node")
    driver = [c for c in node["spec"]["template"]["spec"]["containers"] if c["name"] == "gce-pd-driver"][0]
    assert driver["securityContext"]["privileged"] is True
    mounts = {m["mountPath"]: m for m in driver["volumeMounts"]}
    assert mounts["/var/lib/kubelet"]["mountPropagation"] == "Bidirectional"
    namespace = one(rendered.of_kind("Namespace"), "Namespace", "storage")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "privileged"


def test_pd_controller_sidecars_all_elect_a_leader(storage: List[Obj]) -> None:
    controller = one(storage, "Deployment", "pd-csi-controller")
    sidecars = [c for c in controller["spec"]["template"]["spec"]["containers"] if c["name"].startswith("csi-")]
    assert {c["name"] for c in sidecars} == {"csi-provisioner", "csi-attacher", "csi-resizer", "csi-snapshotter"}
    for sidecar in sidecars:
        assert "--leader-election" in sidecar["args"], sidecar["name"]
        assert "--leader-election-namespace=storage" in sidecar["args"], sidecar["name"]

"""Host state after the containerd role converged with its default `release` method in a Debian 12
container, from the stand-in release files prepare.yml built (standins/build-release.sh) and
served on the container's loopback. The stand-in programs answer --version with the pinned
versions, so each check below shows which file the role put where."""

import tomllib
from pathlib import Path

import pytest
import yaml

DEFAULTS = yaml.safe_load((Path(__file__).parents[3] / "roles/containerd/defaults/main.yml").read_text())
VERSION = DEFAULTS["containerd_version"]
DOWNLOADS = DEFAULTS["containerd_download_dir"]
UNIT = "/etc/systemd/system/containerd.service"


def arch(host) -> str:
    return host.check_output("dpkg --print-architecture")


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/usr/local/bin/containerd", f"containerd github.com/containerd/containerd/v2 v{VERSION} "),
        ("/usr/local/bin/ctr", f"ctr github.com/containerd/containerd/v2 v{VERSION} "),
        ("/usr/local/bin/containerd-shim-runc-v2", f"containerd-shim-runc-v2 github.com/containerd/containerd/v2 v{VERSION} "),
        ("/usr/local/sbin/runc", f"runc version {DEFAULTS['containerd_runc_version']} "),
        ("/opt/cni/bin/bridge", f"CNI bridge plugin v{DEFAULTS['containerd_cni_version']} "),
        ("/opt/cni/bin/host-local", f"CNI host-local plugin v{DEFAULTS['containerd_cni_version']} "),
    ],
)
def test_release_files_unpacked_where_the_unit_and_kubelet_look(host, path, expected):
    f = host.file(path)
    assert f.is_file and f.user == "root" and f.mode & 0o111
    assert host.check_output(f"{path} --version").startswith(expected)


def test_verified_downloads_are_kept(host):
    names = [
        f"containerd-{VERSION}-linux-{arch(host)}.tar.gz",
        f"runc.{arch(host)}",
        f"cni-plugins-linux-{arch(host)}-v{DEFAULTS['containerd_cni_version']}.tgz",
    ]
    for name in names:
        assert host.file(f"{DOWNLOADS}/{name}").is_file, name
    served = host.check_output("sha256sum /srv/molecule-standins/containerd/" + names[0]).split()[0]
    assert host.check_output(f"sha256sum {DOWNLOADS}/{names[0]}").split()[0] == served


def test_systemd_unit_runs_the_unpacked_binary(host):
    unit = host.file(UNIT)
    assert unit.mode == 0o644
    assert "ExecStart=/usr/local/bin/containerd\n" in unit.content_string
    assert "Type=notify" in unit.content_string
    assert "Delegate=yes" in unit.content_string


def test_service_enabled_and_running_from_the_release(host):
    svc = host.service("containerd")
    assert svc.is_enabled
    assert svc.is_running
    pid = host.check_output("systemctl show --property MainPID --value containerd")
    assert "/usr/local/bin/containerd" in host.file(f"/proc/{pid}/cmdline").content_string


def test_config_is_version_4_toml_with_systemd_cgroups_and_pinned_pause(host):
    """containerd 2.3 reads config version 4; the file must parse as TOML (the stand-in daemon
    parses it at start too) and carry the CRI settings the kubelet depends on."""
    config = tomllib.loads(host.file("/etc/containerd/config.toml").content_string)
    assert config["version"] == 4
    plugins = config["plugins"]
    images = plugins["io.containerd.cri.v1.images"]
    assert images["pinned_images"]["sandbox"] == "registry.k8s.io/pause:3.10.2"
    assert images["registry"]["config_path"] == "/etc/containerd/certs.d"
    assert images["snapshotter"] == "overlayfs"
    runc = plugins["io.containerd.cri.v1.runtime"]["containerd"]["runtimes"]["runc"]
    assert runc["runtime_type"] == "io.containerd.runc.v2"
    assert runc["options"]["SystemdCgroup"] is True


@pytest.mark.parametrize(
    ("registry", "server", "mirror"),
    [
        ("docker.io", "https://registry-1.docker.io", "https://mirror.example.invalid"),
        ("registry.k8s.io", "https://registry.k8s.io", "https://registry-mirror.example.invalid:5000"),
    ],
)
def test_hosts_toml_per_registry(host, registry, server, mirror):
    f = host.file(f"/etc/containerd/certs.d/{registry}/hosts.toml")
    assert f.is_file
    hosts = tomllib.loads(f.content_string)
    assert hosts["server"] == server
    assert mirror in hosts["host"]


def test_mirror_options(host):
    hosts = tomllib.loads(host.file("/etc/containerd/certs.d/registry.k8s.io/hosts.toml").content_string)
    mirror = hosts["host"]["https://registry-mirror.example.invalid:5000"]
    assert mirror["capabilities"] == ["pull"]
    assert mirror["skip_verify"] is True


def test_crictl_points_at_containerd(host):
    assert "unix:///run/containerd/containerd.sock" in host.file("/etc/crictl.yaml").content_string


def test_release_files_came_from_the_base_url(host):
    """Fetched by name under containerd_release_base_url (one '/' between them), as from a mirror."""
    log = host.check_output("journalctl --no-pager --output cat --unit molecule-standins")
    for name in (f"containerd-{VERSION}-linux-{arch(host)}.tar.gz", f"runc.{arch(host)}"):
        assert f'"GET /containerd/{name} HTTP' in log, log[-2000:]
    assert "GET //" not in log and "containerd//" not in log

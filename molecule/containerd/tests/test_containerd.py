"""Host state after the containerd role converged (distribution package) in a Debian 12 container."""

import pytest


def test_packages_installed(host):
    assert host.package("containerd").is_installed
    assert host.package("runc").is_installed


def test_service_enabled_and_running(host):
    svc = host.service("containerd")
    assert svc.is_enabled
    assert svc.is_running
    assert host.socket("unix:///run/containerd/containerd.sock").is_listening


def test_config_file_matches_installed_version(host):
    content = host.file("/etc/containerd/config.toml").content_string
    version = host.check_output("containerd --version")
    expected = "version = 2" if " 1." in version or " v1." in version else "version = "
    assert expected in content


def test_running_config_uses_systemd_cgroups_and_pinned_pause(host):
    """`containerd config dump` shows what the daemon parsed, not just what the file says."""
    dump = host.check_output("containerd config dump")
    assert "SystemdCgroup = true" in dump
    assert 'sandbox_image = "registry.k8s.io/pause:3.10.2"' in dump or "sandbox = 'registry.k8s.io/pause:3.10.2'" in dump
    assert "/etc/containerd/certs.d" in dump


def test_daemon_answers(host):
    out = host.check_output("ctr --address /run/containerd/containerd.sock version")
    assert "Server:" in out


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
    assert f'server = "{server}"' in f.content_string
    assert f'[host."{mirror}"]' in f.content_string


def test_mirror_options(host):
    content = host.file("/etc/containerd/certs.d/registry.k8s.io/hosts.toml").content_string
    assert 'capabilities = ["pull"]' in content
    assert "skip_verify = true" in content


def test_crictl_points_at_containerd(host):
    assert "unix:///run/containerd/containerd.sock" in host.file("/etc/crictl.yaml").content_string

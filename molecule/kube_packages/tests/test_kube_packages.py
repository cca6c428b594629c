"""Host state after the kube_packages role converged from the signed stand-in apt repository that
prepare.yml built (standins/build-apt-repo.sh) and serves on the container's loopback, and after
refuse-version-change.yml asked for the next patch (refused: nothing may have changed).

The repository holds the pinned version and the next patch, each package's program prints its
version: the checks show which package the role installed, not just that one is there."""

import pytest

# The role's default (kube_packages_version, platform_kube_version's fallback) and the next patch.
VERSION = "1.36.4"
DEB_VERSION = f"{VERSION}-1.1"
NEXT_DEB_VERSION = "1.36.5-1.1"
REPO = "http://127.0.0.1:8080/kubernetes/"
KEY = "/etc/apt/keyrings/kubernetes-apt-keyring.asc"
NAMES = ["kubeadm", "kubelet", "kubectl"]


def test_source_file(host):
    f = host.file("/etc/apt/sources.list.d/kubernetes.sources")
    assert f.is_file
    assert f.mode == 0o644
    content = f.content_string
    assert f"URIs: {REPO}" in content
    assert "Suites: /" in content
    assert f"Signed-By: {KEY}" in content


def test_repository_key_is_the_one_that_signs_the_repository(host):
    key = host.file(KEY)
    assert key.is_file and key.mode == 0o644
    assert key.content_string == host.file("/srv/molecule-standins/kubernetes/Release.key").content_string
    assert key.content_string.startswith("-----BEGIN PGP PUBLIC KEY BLOCK-----")


def test_apt_trusts_the_repository_through_signed_by(host):
    """apt keeps a repository's InRelease only once its signature checked out against Signed-By."""
    lists = host.check_output("ls /var/lib/apt/lists/")
    assert "127.0.0.1:8080_kubernetes_InRelease" in lists
    assert "127.0.0.1:8080_kubernetes_Packages" in lists
    policy = host.check_output("apt-cache policy")
    assert f"{REPO.rstrip('/')}  Packages\n     release o=molecule-stand-in" in policy, policy


def test_keyring_directory(host):
    d = host.file("/etc/apt/keyrings")
    assert d.is_directory
    assert d.mode == 0o755


def test_packages_pinned_to_version(host):
    content = host.file("/etc/apt/preferences.d/kubernetes.pref").content_string
    for name in NAMES:
        assert f"Package: {name}\nPin: version {DEB_VERSION}\nPin-Priority: 1001" in content


@pytest.mark.parametrize("name", NAMES)
def test_pin_keeps_apt_from_the_newer_patch_in_the_repository(host, name):
    policy = host.check_output(f"apt-cache policy {name}")
    assert NEXT_DEB_VERSION in policy, policy  # the repository does offer the next patch
    assert f"Candidate: {DEB_VERSION}" in policy, policy


@pytest.mark.parametrize("name", NAMES)
def test_package_installed_at_version_and_held(host, name):
    pkg = host.package(name)
    assert pkg.is_installed
    assert pkg.version == DEB_VERSION
    assert host.check_output(f"/usr/bin/{name}").startswith(f"{name} v{VERSION} ")
    assert name in host.check_output("apt-mark showhold").split()


def test_upgrade_leaves_the_held_packages_alone(host):
    simulated = host.check_output("apt-get --simulate --quiet upgrade")
    for name in NAMES:
        assert f"Inst {name} " not in simulated, simulated


def test_kubelet_enabled(host):
    assert host.service("kubelet").is_enabled

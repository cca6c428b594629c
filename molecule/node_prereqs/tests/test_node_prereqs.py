"""Host state after the node_prereqs role converged in a systemd Debian 12 container."""

import pytest

MODULES_LOAD = "/etc/modules-load.d/kubernetes.conf"
SYSCTL_FILE = "/etc/sysctl.d/90-kubernetes.conf"


@pytest.mark.parametrize("name", ["conntrack", "socat", "ethtool", "iptables", "kmod", "chrony", "dbus"])
def test_packages_installed(host, name):
    assert host.package(name).is_installed


def test_modules_listed_for_boot(host):
    conf = host.file(MODULES_LOAD)
    assert conf.is_file
    assert conf.mode == 0o644
    lines = [ln for ln in conf.content_string.splitlines() if ln and not ln.startswith("#")]
    assert lines == ["overlay", "br_netfilter"]


def test_ip_forward_set_now_and_at_boot(host):
    assert host.sysctl("net.ipv4.ip_forward") == 1
    assert "net.ipv4.ip_forward=1" in host.file(SYSCTL_FILE).content_string.replace(" ", "")


def test_elasticsearch_map_count_is_set_for_the_logging_role(host):
    """node_prereqs_vm_max_map_count (262144 by default) now and in the sysctl.d file."""
    assert host.sysctl("vm.max_map_count") >= 262144
    assert "vm.max_map_count=262144" in host.file(SYSCTL_FILE).content_string.replace(" ", "")


def test_bridge_sysctls_follow_br_netfilter(host):
    """Set where the kernel offers them; otherwise absent from the file (and the role said why)."""
    content = host.file(SYSCTL_FILE).content_string.replace(" ", "")
    if host.file("/proc/sys/net/bridge/bridge-nf-call-iptables").exists:
        for key in ("net.bridge.bridge-nf-call-iptables", "net.bridge.bridge-nf-call-ip6tables"):
            assert host.sysctl(key) == 1
            assert f"{key}=1" in content
    else:
        assert "net.bridge." not in content


def test_fstab_swap_entry_commented(host):
    lines = host.file("/etc/fstab").content_string.splitlines()
    swap = [ln for ln in lines if "/swapfile" in ln]
    assert swap, "prepare.yml added a /swapfile entry"
    assert all(ln.lstrip().startswith("#") for ln in swap)


def test_swap_unit_masked(host):
    out = host.check_output("systemctl is-enabled swapfile.swap || true")
    assert out.strip() == "masked"


def test_no_swap_active(host):
    assert host.check_output("swapon --show=NAME --noheadings").strip() == ""


def test_chrony_running_with_configured_server(host):
    svc = host.service("chrony")
    assert svc.is_enabled
    assert svc.is_running
    sources = host.file("/etc/chrony/sources.d/orchestrate.sources")
    assert "server ntp.example.invalid iburst" in sources.content_string
    # The Debian chrony.conf must read that directory, else the file would be dead weight.
    assert "sourcedir /etc/chrony/sources.d" in host.file("/etc/chrony/chrony.conf").content_string


def test_timesyncd_not_installed_alongside_chrony(host):
    assert not host.package("systemd-timesyncd").is_installed

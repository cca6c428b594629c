#!/usr/bin/env bash
# Install the system packages the test suite needs (molecule with podman, the image build),
# idempotently: packages already present are not touched and apt is not even updated.
#
#   scripts/install-system-deps.sh          (as root, or through sudo)
#
# podman + runc: molecule's containers (crun refuses the CI kernel's hybrid cgroups, so
# molecule/containers.conf selects runc); debootstrap: scripts/molecule-image.sh builds the
# systemd image from the Debian archive; fuse-overlayfs + slirp4netns: podman's helpers for
# storage and networking where the kernel or user set-up needs them; make, git: the test entry points;
# python3-venv: `make setup` creates .venv with it; mariadb-server, galera-4, mariadb-backup, socat,
# iproute2: the live Galera harness (tests/galera_live: real members in network namespaces);
# prometheus + prometheus-alertmanager: promtool and amtool check the monitoring role's rendered
# configuration and rules; prometheus-node-exporter and prometheus are started on loopback by the
# dashboard query tests.
set -euo pipefail

packages=(podman runc debootstrap fuse-overlayfs slirp4netns uidmap make git ca-certificates python3-venv
  mariadb-server galera-4 mariadb-backup socat iproute2 prometheus prometheus-alertmanager prometheus-node-exporter)
# node + npm: the real Mermaid parser of the docs test (tests/docs/mermaid); a node already on
# PATH (from another source than Debian's package) is used as it is.
if ! command -v npm >/dev/null 2>&1; then
  packages+=(nodejs npm)
fi

missing=()
for pkg in "${packages[@]}"; do
  if ! dpkg-query --show --showformat='${Status}' "$pkg" 2>/dev/null | grep -q '^install ok installed$'; then
    missing+=("$pkg")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-system-deps: all present (${packages[*]})"
  exit 0
fi

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
  sudo_cmd=(sudo)
fi

echo "install-system-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"

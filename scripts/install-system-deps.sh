#!/usr/bin/env bash
# Install the Debian 12 packages this project needs, idempotently: packages already present
# are not touched and apt is not even updated.
#
#   scripts/install-system-deps.sh setup    make + python3-venv: enough for `make setup` and
#                                           `ansible-playbook site.yml`
#   scripts/install-system-deps.sh [test]   everything `make test` needs (`make deps` calls this)
#
# Runs apt-get as root, or through sudo when not root. Without root and without sudo it stops
# at once and prints the exact command to run as root.
#
# podman + runc: molecule's containers (crun refuses the CI kernel's hybrid cgroups, so
# molecule/containers.conf selects runc); debootstrap: scripts/molecule-image.sh builds the
# systemd image from the Debian archive; fuse-overlayfs + slirp4netns + uidmap: podman's helpers;
# make, git: the entry points; python3-venv: `make setup` creates .venv with it;
# mariadb-server, galera-4, mariadb-backup, socat, iproute2: the live Galera harness
# (tests/galera_live: real members in network namespaces); prometheus + prometheus-alertmanager:
# promtool and amtool check the monitoring role's rendered configuration and rules;
# prometheus-node-exporter and prometheus are started on loopback by the dashboard query tests,
# and with prometheus-alertmanager by the live test's helper tests (tests/unit/test_prometheus_api.py);
# dpkg-dev + apt-utils + gnupg: building, indexing and signing local stand-in apt repositories;
# postgresql + locales: the postgresql role's bootstrap SQL runs against a real server on loopback
# (tests/unit/test_postgresql_bootstrap_sql.py; localedef makes the en_US.UTF-8 locale there).
set -euo pipefail

profile="${1:-test}"
case "$profile" in
  setup) packages=(make python3-venv ca-certificates) ;;
  test)
    packages=(make python3-venv ca-certificates podman runc debootstrap fuse-overlayfs slirp4netns uidmap git
              mariadb-server galera-4 mariadb-backup socat iproute2 prometheus prometheus-alertmanager
              prometheus-node-exporter dpkg-dev apt-utils gnupg postgresql locales)
    # node + npm: the real Mermaid parser of the docs test (tests/docs/mermaid); a node already on
    # PATH (from another source than Debian's package) is used as it is.
    if ! command -v npm >/dev/null 2>&1; then
      packages+=(nodejs npm)
    fi
    ;;
  *) echo "install-system-deps: unknown profile '$profile' (setup or test)" >&2; exit 2 ;;
esac

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

install_cmd=(apt-get install -y -qq --no-install-recommends "${missing[@]}")
sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
  if ! command -v sudo >/dev/null 2>&1; then
    echo "install-system-deps: missing ${missing[*]}, and this is neither root nor has sudo. Run as root:" >&2
    echo "  apt-get update && ${install_cmd[*]}" >&2
    exit 1
  fi
  sudo_cmd=(sudo)
fi

echo "install-system-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
if ! "${sudo_cmd[@]}" apt-get update -qq || ! "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive "${install_cmd[@]}"; then
  echo "install-system-deps: could not install ${missing[*]}. Run as root:" >&2
  echo "  apt-get update && ${install_cmd[*]}" >&2
  exit 1
fi

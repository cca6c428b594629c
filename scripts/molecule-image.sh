#!/usr/bin/env bash
# Build the systemd base images the molecule scenarios run in, when they are missing.
#
#   scripts/molecule-image.sh [debian12|ubuntu2404 ...]     (default: debian12)
#
# No container registry is reachable from CI, so the images are bootstrapped locally
# with debootstrap and imported into podman:
#   debian12   -> localhost/debian12-systemd:latest    (bookworm)
#   ubuntu2404 -> localhost/ubuntu2404-systemd:latest  (noble)
# Mirrors are read at run time, never stored in the repository:
#   Debian: DEBIAN_MIRROR, else the first bookworm URI of this machine's apt sources.
#   Ubuntu: UBUNTU_MIRROR, else the first noble URI of this machine's apt sources;
#           without either the Ubuntu image is not built (exit code 3, with a message).
# Environment: MOLECULE_IMAGE_REBUILD=1 rebuilds an existing image; CONTAINERS_CONF
# defaults to molecule/containers.conf (runc). Safe to call concurrently (flock).
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export CONTAINERS_CONF="${CONTAINERS_CONF:-${repo_root}/molecule/containers.conf}"
packages="systemd,systemd-sysv,dbus,python3,python3-apt,sudo,iproute2,procps,ca-certificates,gnupg"

log() { printf 'molecule-image: %s\n' "$*" >&2; }

# Print the first URI of the apt sources (deb822 and one-line formats) serving suite $1.
apt_mirror_for() {
  local suite="$1" f
  shopt -s nullglob
  for f in /etc/apt/sources.list.d/*.sources; do
    awk -v suite="$suite" '
      /^[[:space:]]*$/ { if (uri != "" && hit) { print uri; exit } uri = ""; hit = 0; next }
      tolower($1) == "uris:" { uri = $2 }
      tolower($1) == "suites:" { for (i = 2; i <= NF; i++) if ($i == suite) hit = 1 }
      END { if (uri != "" && hit) print uri }' "$f"
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -r "$f" ] || continue
    awk -v suite="$suite" '$1 == "deb" { u = ($2 ~ /^\[/) ? $3 : $2; s = ($2 ~ /^\[/) ? $4 : $3; if (s == suite) print u }' "$f"
  done
  shopt -u nullglob
}

build_image() {
  local name="$1" suite mirror keyring="" image rootfs
  case "$name" in
    debian12)
      suite=bookworm
      mirror="${DEBIAN_MIRROR:-$(apt_mirror_for bookworm | head -n1)}"
      ;;
    ubuntu2404)
      suite=noble
      mirror="${UBUNTU_MIRROR:-$(apt_mirror_for noble | head -n1)}"
      keyring=/usr/share/keyrings/ubuntu-archive-keyring.gpg
      ;;
    *) log "unknown image '$name' (debian12 or ubuntu2404)"; return 2 ;;
  esac
  image="localhost/${name}-systemd:latest"

  if podman image exists "$image" && [ "${MOLECULE_IMAGE_REBUILD:-0}" != 1 ]; then
    log "$image exists"
    return 0
  fi
  if [ -z "$mirror" ]; then
    log "no apt mirror for $suite: set ${name%%[0-9]*}_MIRROR (upper case) or add a $suite source; $image not built"
    return 3
  fi
  if [ -n "$keyring" ] && [ ! -r "$keyring" ]; then
    log "$keyring missing (apt-get install ubuntu-keyring); $image not built"
    return 3
  fi

  rootfs="$(mktemp -d /var/tmp/molecule-rootfs.XXXXXX)"
  # shellcheck disable=SC2064  # expand now: the path is fixed for this build
  trap "rm -rf '$rootfs'" RETURN
  log "bootstrapping $suite from $mirror into $rootfs"
  debootstrap --variant=minbase --include="$packages" ${keyring:+--keyring="$keyring"} \
    "$suite" "$rootfs" "$mirror" >"$rootfs.log" 2>&1 || { tail -n 30 "$rootfs.log" >&2; rm -f "$rootfs.log"; return 1; }
  rm -f "$rootfs.log"
  # A container gets its machine-id from systemd at boot; the package lists stay, the .debs go.
  : >"$rootfs/etc/machine-id"
  rm -f "$rootfs"/var/cache/apt/archives/*.deb
  tar -C "$rootfs" -c . | podman import \
    --change 'CMD ["/lib/systemd/systemd"]' \
    --change 'ENV container=podman' \
    --change 'STOPSIGNAL SIGRTMIN+3' \
    - "$image" >/dev/null
  log "built $image"
}

main() {
  local rc=0 name
  [ "$#" -gt 0 ] || set -- debian12
  mkdir -p /var/tmp
  exec 9>/var/tmp/molecule-image.lock
  flock 9
  for name in "$@"; do
    build_image "$name" || rc=$?
  done
  return "$rc"
}

main "$@"

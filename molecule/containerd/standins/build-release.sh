#!/usr/bin/env bash
# Build stand-in release files of containerd, runc and the CNI plugins under their upstream
# names and layout, plus their SHA256SUMS, for the molecule scenarios that exercise the
# containerd role's `release` install method offline (the files are served on the test
# container's loopback). The programs inside only answer --version with the given version
# (containerd also runs as a service: containerd.py); none of them is the real software.
#
#   build-release.sh OUT_DIR ARCH CONTAINERD_VERSION RUNC_VERSION CNI_VERSION
#
# Layout, as upstream's: containerd-<v>-linux-<arch>.tar.gz holds bin/containerd, bin/ctr,
# bin/containerd-shim-runc-v2, bin/containerd-stress; runc.<arch> is the binary itself;
# cni-plugins-linux-<arch>-v<v>.tgz holds the plugins under ./ .
set -euo pipefail

if [ "$#" -ne 5 ]; then
  echo "usage: $0 OUT_DIR ARCH CONTAINERD_VERSION RUNC_VERSION CNI_VERSION" >&2
  exit 2
fi
out="$1" arch="$2" containerd_version="$3" runc_version="$4" cni_version="$5"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# A shell program that prints one line for --version (and for anything else).
version_script() {
  printf '#!/bin/sh\n# Stand-in built by the molecule scenario, not the real program.\necho "%s"\n' "$2" >"$1"
  chmod 0755 "$1"
}

# pack OUT DIR ENTRY: a reproducible gzip'd tar of DIR/ENTRY, owned by root.
pack() {
  tar -C "$2" --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -c "$3" | gzip -n >"$1"
}

rm -rf "$out"
mkdir -p "$out" "$work/containerd/bin" "$work/cni"

sed "s/@VERSION@/${containerd_version}/g" "$here/containerd.py" >"$work/containerd/bin/containerd"
chmod 0755 "$work/containerd/bin/containerd"
for tool in ctr containerd-shim-runc-v2 containerd-stress; do
  version_script "$work/containerd/bin/$tool" "$tool github.com/containerd/containerd/v2 v${containerd_version} molecule-stand-in"
done
pack "$out/containerd-${containerd_version}-linux-${arch}.tar.gz" "$work/containerd" bin

version_script "$out/runc.${arch}" "runc version ${runc_version} (molecule stand-in)"

for plugin in bridge host-local loopback portmap; do
  version_script "$work/cni/$plugin" "CNI $plugin plugin v${cni_version} (molecule stand-in)"
done
pack "$out/cni-plugins-linux-${arch}-v${cni_version}.tgz" "$work/cni" .

(cd "$out" && sha256sum -- * >SHA256SUMS)

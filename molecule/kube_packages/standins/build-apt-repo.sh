#!/usr/bin/env bash
# Build a signed flat apt repository (the pkgs.k8s.io layout: Suites "/") of stand-in kubeadm,
# kubelet and kubectl packages, one set per given version, for the molecule scenarios that
# exercise the kube_packages role's repository install offline (the repository is served on
# the test container's loopback). Each package holds a shell program that only prints its
# version (kubelet also ships a kubelet.service unit); none of them is the real software.
# The signing key is made here, for this build only; its public half is Release.key, where
# the role's default kube_packages_repo_key_url (<repo URL>Release.key) looks for it.
#
#   build-apt-repo.sh OUT_DIR ARCH DEB_REVISION VERSION...
set -euo pipefail

if [ "$#" -lt 4 ]; then
  echo "usage: $0 OUT_DIR ARCH DEB_REVISION VERSION..." >&2
  exit 2
fi
out="$1" arch="$2" revision="$3"
shift 3
work="$(mktemp -d)"
export GNUPGHOME="$work/gnupg"
cleanup() {
  gpgconf --kill gpg-agent >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

# build_deb NAME VERSION: a stand-in package NAME at VERSION-revision in $out.
build_deb() {
  local name="$1" version="$2" root="$work/$1_$2"
  mkdir -p "$root/DEBIAN" "$root/usr/bin"
  cat >"$root/DEBIAN/control" <<CONTROL
Package: $name
Version: $version-$revision
Architecture: $arch
Maintainer: orchestrate.platform molecule scenario <molecule@example.invalid>
Section: admin
Priority: optional
Description: stand-in $name $version built by the molecule scenario
 Not Kubernetes: a program that prints its version, for testing the kube_packages role.
CONTROL
  printf '#!/bin/sh\n# Stand-in built by the molecule scenario, not the real program.\necho "%s v%s (molecule stand-in)"\n' \
    "$name" "$version" >"$root/usr/bin/$name"
  chmod 0755 "$root/usr/bin/$name"
  if [ "$name" = kubelet ]; then
    mkdir -p "$root/lib/systemd/system"
    printf '[Unit]\nDescription=stand-in kubelet (molecule)\n\n[Service]\nExecStart=/usr/bin/kubelet\n\n[Install]\nWantedBy=multi-user.target\n' \
      >"$root/lib/systemd/system/kubelet.service"
  fi
  dpkg-deb --root-owner-group --build "$root" "$out/${name}_${version}-${revision}_${arch}.deb" >/dev/null
}

rm -rf "$out"
mkdir -p "$out" "$GNUPGHOME"
chmod 0700 "$GNUPGHOME"
for version in "$@"; do
  for name in kubeadm kubelet kubectl; do
    build_deb "$name" "$version"
  done
done

gpg --batch --quiet --passphrase '' --quick-generate-key \
  "orchestrate.platform molecule stand-in repository <molecule@example.invalid>" ed25519 sign 1d
gpg --batch --quiet --armor --export >"$out/Release.key"

cd "$out"
apt-ftparchive packages . >Packages
gzip -9n --keep Packages
apt-ftparchive -o APT::FTPArchive::Release::Origin=molecule-stand-in release . >"$work/Release"
mv "$work/Release" Release
gpg --batch --quiet --yes --clearsign --output InRelease Release
gpg --batch --quiet --yes --armor --detach-sign --output Release.gpg Release

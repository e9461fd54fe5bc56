#!/usr/bin/env bash
# Makes the stand-in Debian base image from Debian's packages: debootstrap a
# minimal bookworm into a folder and `docker import` it. Used by
# deploy/images/images.sh when the registry's base images cannot be pulled.
#
#   deploy/images/debian-rootfs.sh TAG [SUITE]
set -euo pipefail
tag=${1:?usage: debian-rootfs.sh TAG [SUITE]}
suite=${2:-bookworm}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
if ! command -v debootstrap >/dev/null 2>&1; then
  echo "debian-rootfs: debootstrap is needed (apt-get install debootstrap)" >&2
  exit 1
fi
work=$(mktemp -d "${TMPDIR:-/var/tmp}/confapplet-rootfs.XXXXXX")
trap 'rm -rf "$work"' EXIT
# minbase: essential packages and apt; plus what the stand-ins need from it:
# CA certificates and time zones (the distroless stand-in copies them), wget
# (the NATS and HAProxy images' health checks use it, as busybox's in Alpine).
debootstrap --variant=minbase --include=ca-certificates,tzdata,wget,netbase \
  "$suite" "$work/rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 || {
  tail -20 "$work/debootstrap.log" >&2
  exit 1
}
# A host behind a TLS-inspecting proxy reaches the Go module proxy and
# Debian only with its own local CAs: the stand-ins trust what the host trusts.
if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
  cp /usr/local/share/ca-certificates/*.crt "$work/rootfs/usr/local/share/ca-certificates/"
  chroot "$work/rootfs" update-ca-certificates >/dev/null
fi
# What docker's own Debian images drop: package lists and caches.
rm -rf "$work/rootfs/var/lib/apt/lists/"* "$work/rootfs/var/cache/apt/"*.bin \
  "$work/rootfs/var/cache/apt/archives/"*.deb "$work/rootfs/var/log/"*.log
tar --numeric-owner -C "$work/rootfs" -c . |
  docker import \
    --change 'CMD ["bash"]' \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change "LABEL org.confapplet.standin=debian:$suite" \
    --message "debootstrap --variant=minbase $suite (confapplet stand-in)" \
    - "$tag" >/dev/null
echo "debian-rootfs: $tag from debootstrap $suite"

#!/usr/bin/env bash
# Build the container image the labs run their members in (labctl ... with containers=True).
#
#   tests/labs/images/build.sh [--force]
#
# 1. containers.conf gets the settings podman needs on CI machines (merged, never clobbered).
# 2. localhost/debian:bookworm: no registry is assumed reachable, so the base image is made with
#    debootstrap from the Debian mirror the host's apt already uses, then imported into podman.
# 3. localhost/zdt-lab:latest from ./Containerfile on top of it.
#
# Each step is skipped when its result is already there: the base image when it exists, the lab
# image when it was built from the same Containerfile and the same base. --force redoes both.
# Needs root (debootstrap, and the rootful podman storage the labs use).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SUITE=bookworm
BASE_IMAGE="localhost/debian:${SUITE}"
LAB_IMAGE="localhost/zdt-lab:latest"
CONTAINERS_CONF="${CONTAINERS_CONF:-/etc/containers/containers.conf}"
FORCE=0

usage() { sed -n '2,12s/^# \{0,1\}//p' "$0"; }
for arg in "$@"; do
    case "$arg" in
        --force) FORCE=1 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "build.sh: unknown argument: $arg" >&2; usage >&2; exit 2 ;;
    esac
done

say() { printf 'build.sh: %s\n' "$*"; }
die() { printf 'build.sh: %s\n' "$*" >&2; exit 1; }
now() { date +%s.%N; }
took() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

command -v podman >/dev/null || die "podman is not installed (apt-get install podman runc)"
command -v python3 >/dev/null || die "python3 is not installed"
[ "$(id -u)" -eq 0 ] || die "run as root: debootstrap and the labs' podman storage need it"

START_ALL="$(now)"

# --- 1. podman settings ------------------------------------------------------------------------
t0="$(now)"
python3 "$HERE/containers_conf.py" "$CONTAINERS_CONF"
say "containers.conf checked in $(took "$t0")s"

# --- 2. base image -----------------------------------------------------------------------------
if [ "$FORCE" -eq 0 ] && podman image exists "$BASE_IMAGE"; then
    say "$BASE_IMAGE exists, kept"
else
    command -v debootstrap >/dev/null || die "debootstrap is not installed (apt-get install debootstrap)"
    MIRROR="$(python3 "$HERE/apt_mirror.py" "$SUITE")" || die "no Debian mirror found in the host's apt sources"
    ROOTFS_PARENT="$(mktemp -d "${TMPDIR:-/var/tmp}/zdt-rootfs.XXXXXX")"
    ROOTFS="$ROOTFS_PARENT/rootfs"
    # A failed debootstrap can leave /proc (or bind-mounted device nodes) mounted in the tree:
    # unmount them and never let rm cross into another file system.
    drop_rootfs() {
        awk -v root="$ROOTFS/" 'index($2, root) == 1 { print $2 }' /proc/mounts | sort -r | xargs -r -n1 umount -l || true
        rm -rf --one-file-system "$ROOTFS_PARENT"
    }
    trap drop_rootfs EXIT

    t0="$(now)"
    say "debootstrap $SUITE from $MIRROR"
    debootstrap --variant=minbase "$SUITE" "$ROOTFS" "$MIRROR" >"$ROOTFS_PARENT/debootstrap.log" 2>&1 || {
        tail -n 30 "$ROOTFS_PARENT/debootstrap.log" >&2
        die "debootstrap failed (the end of its log is above)"
    }
    # Package caches and lists are only useful to the machine that downloaded them.
    rm -rf "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/cache/apt/*.bin "$ROOTFS"/var/lib/apt/lists/* \
           "$ROOTFS"/var/log/* "$ROOTFS"/debootstrap
    say "debootstrap done in $(took "$t0")s"

    OLD_BASE_ID="$(podman image inspect --format '{{.Id}}' "$BASE_IMAGE" 2>/dev/null || true)"
    t0="$(now)"
    tar --numeric-owner -C "$ROOTFS" -c . | podman import \
        --change 'ENV=PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'CMD=["/bin/bash"]' \
        --message "debootstrap --variant=minbase $SUITE" \
        - "$BASE_IMAGE" >/dev/null
    drop_rootfs
    trap - EXIT
    say "imported $BASE_IMAGE in $(took "$t0")s"
fi

# --- 3. lab image ------------------------------------------------------------------------------
# The lab image records what it was built from; a different Containerfile or base means rebuild.
RECIPE="$(sha256sum "$HERE/Containerfile" | cut -d' ' -f1)"
BASE_ID="$(podman image inspect --format '{{.Id}}' "$BASE_IMAGE")"
built_from() {
    podman image inspect --format '{{index .Labels "zdt.containerfile"}} {{index .Labels "zdt.base"}}' "$LAB_IMAGE" 2>/dev/null || true
}
if [ "$FORCE" -eq 0 ] && [ "$(built_from)" = "$RECIPE $BASE_ID" ]; then
    say "$LAB_IMAGE is up to date, kept"
else
    OLD_ID="$(podman image inspect --format '{{.Id}}' "$LAB_IMAGE" 2>/dev/null || true)"
    t0="$(now)"
    say "building $LAB_IMAGE"
    podman build --pull=never --network host --layers=false \
        --build-arg "BASE=$BASE_IMAGE" \
        --label "zdt.containerfile=$RECIPE" --label "zdt.base=$BASE_ID" \
        --tag "$LAB_IMAGE" --file "$HERE/Containerfile" "$HERE"
    say "built $LAB_IMAGE in $(took "$t0")s"
    # The image this one replaced is now nameless; drop it (and only it) so rebuilds do not pile up.
    if [ -n "$OLD_ID" ] && [ "$OLD_ID" != "$(podman image inspect --format '{{.Id}}' "$LAB_IMAGE")" ]; then
        podman rmi "$OLD_ID" >/dev/null 2>&1 || true
    fi

    t0="$(now)"
    podman run --rm --network host --pull=never "$LAB_IMAGE" sh -c '
        python3 -c "import aiohttp, paho.mqtt.client, kazoo.client, httpx" &&
        for tool in mosquitto haproxy java ps ip; do command -v "$tool" >/dev/null || exit 1; done &&
        test -d /usr/share/zookeeper' \
        || die "$LAB_IMAGE was built but lacks what the labs need"
    say "checked $LAB_IMAGE in $(took "$t0")s"
fi

# A base replaced by --force is nameless now; it can go once no image is built on it any more.
if [ -n "${OLD_BASE_ID:-}" ] && [ "$OLD_BASE_ID" != "$(podman image inspect --format '{{.Id}}' "$BASE_IMAGE")" ]; then
    podman rmi "$OLD_BASE_ID" >/dev/null 2>&1 || true
fi

say "$(podman image inspect --format '{{.Size}}' "$LAB_IMAGE" | awk '{ printf "%s is %.0f MB", "'"$LAB_IMAGE"'", $1 / 1e6 }')"
say "all done in $(took "$START_ALL")s"

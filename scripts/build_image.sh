#!/usr/bin/env bash
# Build the Berrys image where Docker Hub cannot be reached: the base image is made here
# from the Debian archive (debootstrap, then Debian's Python, venv and CA certificates: what
# deploy/Dockerfile needs of python:*-slim), then deploy/Dockerfile is built on it, its
# packages from PyPI. Run as root on Debian or Ubuntu, from anywhere:
#   scripts/build_image.sh                        # berrys:latest
#   BERRYS_LOCAL=true scripts/build_image.sh berrys:local
# Settings (environment): CONTAINER_ENGINE (podman if installed, else docker); DEBIAN_SUITE
# (bookworm: Python 3.11; trixie: 3.13); DEBIAN_MIRROR; BASE_IMAGE (made once, then reused;
# REBUILD_BASE=true makes it again, with the suite's latest updates); EXTRA_CA_CERTIFICATES
# (certificate files the base trusts besides Debian's, for a proxy that intercepts TLS; by
# default those the host added in /usr/local/share/ca-certificates, set it empty for none).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TAG=${1:-berrys:latest}
SUITE=${DEBIAN_SUITE:-bookworm}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
SECURITY_MIRROR=${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
BASE=${BASE_IMAGE:-localhost/python-base:$SUITE}
LOCAL_CAS=$(find /usr/local/share/ca-certificates -name '*.crt' 2>/dev/null | tr '\n' ' ')
EXTRA_CAS=${EXTRA_CA_CERTIFICATES-$LOCAL_CAS}
ENGINE=${CONTAINER_ENGINE:-$(command -v podman >/dev/null && echo podman || echo docker)}
# Podman writes OCI images unless told otherwise, and those drop SHELL (so RUN loses
# pipefail) and HEALTHCHECK; nor does it read a Dockerfile's own .dockerignore by itself.
BUILD_OPTIONS=()
[ "$(basename "$ENGINE")" != podman ] || BUILD_OPTIONS=(--format docker)
WORK=""
trap '[ -z "$WORK" ] || rm -rf "$WORK"' EXIT

fail() { echo "build_image.sh: $*" >&2; exit 1; }
command -v "$ENGINE" >/dev/null || fail "no container engine: apt-get install podman (or docker.io)"

image_exists() { "$ENGINE" image inspect "$1" >/dev/null 2>&1; }

# A minimal Debian root file system, pruned the way Debian's slim images are, imported as
# an image (the engine needs no registry for it).
import_debian() {
  local work=$1 rootfs=$1/rootfs
  [ "$(id -u)" = 0 ] || fail "making the base image needs root (debootstrap)"
  command -v debootstrap >/dev/null || fail "apt-get install debootstrap"
  debootstrap --variant=minbase "$SUITE" "$rootfs" "$MIRROR" >"$work/debootstrap.log" \
    || fail "debootstrap failed: see the end of $work/debootstrap.log"
  cat >"$rootfs/etc/dpkg/dpkg.cfg.d/slim" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
EOF
  local certificate
  mkdir -p "$rootfs/usr/local/share/ca-certificates"
  for certificate in $EXTRA_CAS; do
    echo "the base trusts $certificate" >&2
    cp "$certificate" "$rootfs/usr/local/share/ca-certificates/$(basename "$certificate" .crt).crt"
  done
  rm -f "$rootfs/etc/apt/sources.list"
  cat >"$rootfs/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $MIRROR
Suites: $SUITE $SUITE-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $SECURITY_MIRROR
Suites: $SUITE-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  find "$rootfs/usr/share/doc" -mindepth 1 ! -type d ! -name copyright -delete
  find "$rootfs/usr/share/doc" -mindepth 1 -type d -empty -delete
  rm -rf "$rootfs"/usr/share/{man,info,locale}/* "$rootfs"/var/cache/apt/archives/*.deb \
    "$rootfs"/var/lib/apt/lists/*
  tar -C "$rootfs" -c . | "$ENGINE" import --change 'CMD ["bash"]' - "$BASE-debian" >/dev/null
}

# The Debian image with the suite's updates and Python: what deploy/Dockerfile expects of
# its base (`python` on PATH, `python -m venv` with pip, apt for the LOCAL extra's packages).
build_base() {
  WORK=$(mktemp -d)
  echo "making $BASE from $MIRROR ($SUITE) with $ENGINE" >&2
  import_debian "$WORK"
  mkdir "$WORK/context"
  "$ENGINE" build "${BUILD_OPTIONS[@]}" -t "$BASE" -f - "$WORK/context" <<EOF
FROM $BASE-debian
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \\
    && apt-get upgrade -y \\
    && apt-get install -y --no-install-recommends \\
        ca-certificates netbase tzdata python3 python3-venv python-is-python3 \\
    && apt-get clean \\
    && rm -rf /var/lib/apt/lists/*
ENV LANG=C.UTF-8
CMD ["python3"]
EOF
  "$ENGINE" rmi "$BASE-debian" >/dev/null
}

if [ "${REBUILD_BASE:-false}" = true ] || ! image_exists "$BASE"; then
  build_base
fi

[ "$(basename "$ENGINE")" != podman ] \
  || BUILD_OPTIONS+=(--ignorefile "$ROOT/deploy/Dockerfile.dockerignore")
started=$(date +%s)
"$ENGINE" build "${BUILD_OPTIONS[@]}" -f "$ROOT/deploy/Dockerfile" -t "$TAG" \
  --build-arg BASE_IMAGE="$BASE" --build-arg BERRYS_LOCAL="${BERRYS_LOCAL:-false}" "$ROOT"
seconds=$(($(date +%s) - started))
bytes=$("$ENGINE" image inspect --format '{{.Size}}' "$TAG")
echo "built $TAG on $BASE in ${seconds} s: $((bytes / 1000000)) MB" >&2

#!/usr/bin/env bash
# Build the operator image from ./Dockerfile: `docker build` when a Docker engine answers, else
# buildah (chroot isolation, runc), which needs no daemon. Prints the image's size and build time.
#
#   IMAGE=localhost/ocids-operator:dev bash tools/image/build.sh
#
# Without a registry (this project's CI), the base python:3.11-slim is a local stand-in built
# from Debian's packages (tools/image/base.sh), cached in local storage and ~/.cache. An image
# whose label already carries the build context's hash is not rebuilt (OCIDS_IMAGE_REBUILD=1
# forces it).
set -euo pipefail

IMAGE=${IMAGE:-localhost/ocids-operator:dev}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# The Dockerfile's base, pinned by digest (ARG BASE_IMAGE=python:3.11-slim@sha256:...).
PINNED_BASE=$(awk -F= '$1 == "ARG BASE_IMAGE" { print $2; exit }' "$ROOT/Dockerfile")
# An image cannot be tagged with a digest: the buildah path builds FROM the tag (the digest
# stripped), where a real python:3.11-slim or the stand-in lives, passed as the build argument.
BASE_IMAGE=${PINNED_BASE%%@*}
# Fully qualified as Docker reads it (python:3.11-slim is docker.io/library/python:3.11-slim), so
# the stand-in is found under the name FROM resolves to, not committed as localhost/python.
first=${BASE_IMAGE%%/*}
if [[ $BASE_IMAGE != */* ]]; then
  BASE_IMAGE=docker.io/library/$BASE_IMAGE
elif [[ $first != *.* && $first != *:* && $first != localhost ]]; then
  BASE_IMAGE=docker.io/$BASE_IMAGE
fi
HASH_LABEL=io.ocids.build-context-sha256
CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt
cd "$ROOT"

started=$(date +%s)

if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
  docker build -t "$IMAGE" .
  echo "image $IMAGE: $(docker image inspect -f '{{.Size}}' "$IMAGE" | awk '{ printf "%.0f MB", $1 / 1e6 }')"
  echo "built in $(($(date +%s) - started))s (docker)"
  exit 0
fi

missing=()
for tool in buildah:buildah podman:podman runc:runc mmdebstrap:mmdebstrap; do
  command -v "${tool%%:*}" >/dev/null 2>&1 || missing+=("${tool##*:}")
done
if ((${#missing[@]})); then
  if [[ $(id -u) != 0 ]]; then
    echo "need ${missing[*]} (apt-get install -y ${missing[*]}) or a Docker engine" >&2
    exit 1
  fi
  echo "installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# The Debian stand-in's Python is what the image's venv links to, so the hash covers the base.
BASE_IMAGE=$BASE_IMAGE bash "$HERE/base.sh"
base_id=$(buildah inspect --type image --format '{{.FromImageID}}' "$BASE_IMAGE")
hash=$(python3 "$HERE/context_hash.py" Dockerfile "$base_id")

if [[ ${OCIDS_IMAGE_REBUILD:-0} != 1 ]] &&
  current=$(buildah inspect --type image --format "{{index .OCIv1.Config.Labels \"$HASH_LABEL\"}}" "$IMAGE" 2>/dev/null) &&
  [[ $current == "$hash" ]]; then
  echo "image $IMAGE: up to date (build context unchanged, $HASH_LABEL=${hash:0:12})"
else
  build_args=()
  # Behind a TLS-intercepting proxy pip trusts only the host's bundle: mounted for the RUN steps
  # (never into a layer) and named to pip through a build argument.
  if [[ -s $CA_BUNDLE ]]; then
    build_args+=(--volume "$CA_BUNDLE:$CA_BUNDLE:ro" --build-arg "PIP_CERT=$CA_BUNDLE")
  fi
  buildah build \
    --isolation chroot --runtime runc --layers --pull-never --force-rm \
    --build-arg "BASE_IMAGE=$BASE_IMAGE" \
    "${build_args[@]}" \
    --label "$HASH_LABEL=$hash" \
    --tag "$IMAGE" --file Dockerfile .
  echo "built in $(($(date +%s) - started))s (buildah)"
  # Earlier builds of this image, untagged now, would pile up (~100 MB each); the build stage's
  # intermediate images stay: they are the layer cache of the next build.
  # (The title label is set by the final stage only; --label marks the build stage's images too.)
  buildah images --quiet --filter dangling=true --filter label=org.opencontainers.image.title=ocids-operator |
    xargs -r buildah rmi >/dev/null 2>&1 || true
fi
buildah images --format '{{.Name}}:{{.Tag}} {{.ID}} {{.Size}}' "$IMAGE" | sed 's/^/image /'

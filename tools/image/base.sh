#!/usr/bin/env bash
# A local stand-in for python:3.11-slim, for machines that can reach Debian's mirrors but no
# container registry: Debian bookworm (minbase) with its python3 (3.11), venv and CA certificates,
# committed under the name the Dockerfile pulls, so the same Dockerfile builds with either base.
#
# Reused when the image is already in local storage; else loaded from the tarball cache; else
# built with mmdebstrap (about a minute) and both cached.
#
# Usage: BASE_IMAGE=docker.io/library/python:3.11-slim bash tools/image/base.sh
set -euo pipefail

BASE_IMAGE=${BASE_IMAGE:-docker.io/library/python:3.11-slim}
CACHE_DIR=${OCIDS_IMAGE_CACHE:-${OCIDS_BIN_CACHE:-$HOME/.cache/ocids-operator}/image}
# Bump when the recipe below changes, so a cached tarball of the old recipe is not reused.
RECIPE=bookworm-minbase-py3-v3
TARBALL="$CACHE_DIR/base-$RECIPE.tar"

RECIPE_LABEL=io.ocids.base-recipe
# A real python:3.11-slim (no recipe label) is used as it is; a stand-in of an older recipe is not.
if present=$(buildah inspect --type image --format "{{index .OCIv1.Config.Labels \"$RECIPE_LABEL\"}}" \
  "$BASE_IMAGE" 2>/dev/null) && [[ -z $present || $present == "$RECIPE" ]]; then
  echo "base image $BASE_IMAGE: present${present:+ (stand-in $present)}"
  exit 0
fi

mkdir -p "$CACHE_DIR"
if [[ ! -s "$TARBALL" ]]; then
  echo "base image $BASE_IMAGE: building a Debian bookworm stand-in with mmdebstrap"
  started=$(date +%s)
  tmp="$TARBALL.tmp.$$"
  trap 'rm -f "$tmp"' EXIT
  # Docs, man pages, translations, recommended extras and usrmerge (which pulls in perl; the hook
  # merges /usr itself) are what the official slim images leave out too.
  mmdebstrap --variant=minbase --mode=root --format=tar \
    --aptopt='APT::Install-Recommends "false"' \
    --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
    --include=python3,python3-venv,python-is-python3,ca-certificates \
    --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --dpkgopt='path-exclude=/usr/share/locale/*' \
    --dpkgopt='path-exclude=/usr/share/info/*' \
    --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/* "$1"/var/log/*' \
    bookworm "$tmp" >"$CACHE_DIR/mmdebstrap.log" 2>&1 || {
      tail -30 "$CACHE_DIR/mmdebstrap.log" >&2
      exit 1
    }
  mv "$tmp" "$TARBALL"
  trap - EXIT
  echo "base tarball built in $(($(date +%s) - started))s: $TARBALL"
fi

ctr=$(buildah from scratch)
trap 'buildah rm "$ctr" >/dev/null 2>&1 || true' EXIT
buildah add --quiet "$ctr" "$TARBALL" / >/dev/null
# The environment python:3.11-slim sets (its python lives in /usr/local/bin, Debian's in /usr/bin).
buildah config \
  --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  --env LANG=C.UTF-8 \
  --cmd python3 \
  --label org.opencontainers.image.description="local stand-in for python:3.11-slim" \
  --label "$RECIPE_LABEL=$RECIPE" \
  "$ctr"
buildah commit --quiet --rm "$ctr" "$BASE_IMAGE" >/dev/null
trap - EXIT
echo "base image $BASE_IMAGE: committed from $TARBALL"

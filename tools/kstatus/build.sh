#!/usr/bin/env bash
# Build (or reuse) the kstatus checker: sigs.k8s.io/cli-utils' status.Compute, what Flux's health
# checks run, wrapped in a small CLI (main.go) the GitOps tests call. Built through the Go module
# proxy with the same conventions as tools/controlplane/build.sh; the cli-utils version in go.mod
# names the cache folder:
#   ${OCIDS_BIN_CACHE:-$HOME/.cache/ocids-operator/bin}/kstatus-<cli-utils version>/kstatus
# A binary already there is reused; go.mod/go.sum/main.go changes are picked up by a hash of them.
#
# Usage: build.sh           build when missing or stale, print the path
#        build.sh --print   print the path, build nothing (exit 1 when missing)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache=${OCIDS_BIN_CACHE:-$HOME/.cache/ocids-operator/bin}

export GOTOOLCHAIN=local CGO_ENABLED=0
export GOFLAGS="-p=${OCIDS_GO_JOBS:-$(nproc)} -buildvcs=false -mod=readonly"

version=$(awk '($1 == "sigs.k8s.io/cli-utils" && $2 ~ /^v/) {print $2; exit}' "$here/go.mod")
[[ -n "$version" ]] || { echo "tools/kstatus/go.mod does not require sigs.k8s.io/cli-utils" >&2; exit 1; }
dir=$cache/kstatus-$version
bin=$dir/kstatus
# The binary is stamped with its sources' hash, so an edited main.go never runs stale.
sources=$(cat "$here/go.mod" "$here/go.sum" "$here/main.go" | sha256sum | cut -c1-16)

current() { [[ -x "$bin" && "$(cat "$dir/.sources" 2>/dev/null)" == "$sources" ]]; }

if [[ "${1:-}" == --print ]]; then
  if current; then echo "$bin"; exit 0; fi
  echo "missing kstatus (expected $bin for cli-utils $version; run \`make kstatus\`)" >&2
  exit 1
fi

mkdir -p "$dir" "$cache/logs"
exec 9>"$cache/.kstatus.lock"
flock 9
if current; then
  echo "$bin"
  exit 0
fi

command -v go >/dev/null || { echo "go not found: kstatus needs Go >= 1.26 and the module proxy" >&2; exit 1; }
log=$cache/logs/kstatus.log
echo "building kstatus (sigs.k8s.io/cli-utils $version) -> $bin (log: $log)" >&2
start=$(date +%s)
if ! (cd "$here" && go build -trimpath -ldflags "-s -w" -o "$bin.tmp" .) >"$log" 2>&1; then
  tail -n 30 "$log" >&2
  echo "FAILED: kstatus (full log: $log)" >&2
  exit 1
fi
mv -f "$bin.tmp" "$bin"
echo "$sources" >"$dir/.sources"
echo "built kstatus in $(($(date +%s) - start))s" >&2
echo "$bin"

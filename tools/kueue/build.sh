#!/usr/bin/env bash
# Build (or reuse) Kueue's manager for the Kueue integration tests: sigs.k8s.io/kueue/cmd/kueue,
# compiled from upstream source through the Go module proxy with the same conventions as
# tools/controlplane/build.sh (no images, no release downloads). The version go/go.mod requires
# names the cache folder:
#   ${OCIDS_BIN_CACHE:-$HOME/.cache/ocids-operator/bin}/kueue-<version>/kueue
# A binary already there is reused; go.mod/go.sum/tools.go changes are picked up by a hash of them.
# The CRDs and webhook manifests the tests install come from the same module, in the module cache
# (`build.sh --config-dir` prints that folder: config/components/{crd/bases,webhook}).
#
# Usage: build.sh               build when missing or stale, print the binary's path
#        build.sh --print       print the path, build nothing (exit 1 when missing)
#        build.sh --config-dir  print the module's config/components folder (downloads the module)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache=${OCIDS_BIN_CACHE:-$HOME/.cache/ocids-operator/bin}

export GOTOOLCHAIN=local CGO_ENABLED=0
export GOFLAGS="-p=${OCIDS_GO_JOBS:-$(nproc)} -buildvcs=false -mod=readonly"

version=$(awk '($1 == "sigs.k8s.io/kueue" && $2 ~ /^v/) {print $2; exit} ($1 == "require" && $2 == "sigs.k8s.io/kueue") {print $3; exit}' "$here/go/go.mod")
[[ -n "$version" ]] || { echo "tools/kueue/go/go.mod does not require sigs.k8s.io/kueue" >&2; exit 1; }
dir=$cache/kueue-$version
bin=$dir/kueue
# The binary is stamped with its sources' hash, so a bumped go.mod never runs a stale build.
sources=$(cat "$here/go/go.mod" "$here/go/go.sum" "$here/go/tools.go" | sha256sum | cut -c1-16)

current() { [[ -x "$bin" && "$(cat "$dir/.sources" 2>/dev/null)" == "$sources" ]]; }

case "${1:-}" in
  --print)
    if current; then echo "$bin"; exit 0; fi
    echo "missing kueue (expected $bin for sigs.k8s.io/kueue $version; run \`make kueue\`)" >&2
    exit 1
    ;;
  --config-dir)
    command -v go >/dev/null || { echo "go not found: the Kueue manifests come from its Go module" >&2; exit 1; }
    moddir=$(cd "$here/go" && go list -m -f '{{.Dir}}' sigs.k8s.io/kueue)
    [[ -z "$moddir" ]] && moddir=$(cd "$here/go" && go mod download -json sigs.k8s.io/kueue | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
    echo "$moddir/config/components"
    exit 0
    ;;
esac

mkdir -p "$dir" "$cache/logs"
exec 9>"$cache/.kueue.lock"
flock 9
if current; then
  echo "$bin"
  exit 0
fi

command -v go >/dev/null || { echo "go not found: Kueue needs Go >= 1.26 and the module proxy" >&2; exit 1; }
log=$cache/logs/kueue.log
echo "building kueue (sigs.k8s.io/kueue $version) -> $bin (log: $log)" >&2
start=$(date +%s)
# As Kueue's Makefile stamps it (pkg/version); the build date is the tag's, so builds reproduce.
date=$(cd "$here/go" && go list -m -f '{{.Time.UTC.Format "2006-01-02T15:04:05Z"}}' sigs.k8s.io/kueue 2>/dev/null || true)
ldflags="-s -w -X sigs.k8s.io/kueue/pkg/version.GitVersion=$version -X sigs.k8s.io/kueue/pkg/version.BuildDate=$date"
timer=()
[[ -x /usr/bin/time ]] && timer=(/usr/bin/time -v)
if ! (cd "$here/go" && "${timer[@]}" nice go build -trimpath -ldflags "$ldflags" -o "$bin.tmp" sigs.k8s.io/kueue/cmd/kueue) >"$log" 2>&1; then
  tail -n 30 "$log" >&2
  echo "FAILED: kueue (full log: $log)" >&2
  exit 1
fi
mv -f "$bin.tmp" "$bin"
echo "$sources" >"$dir/.sources"
echo "built kueue in $(($(date +%s) - start))s" >&2
echo "$bin"

#!/usr/bin/env bash
# Build (or reuse) the control-plane binaries the integration tests and `make cluster-up` run:
# kube-apiserver, kube-controller-manager, kubectl, etcd and helm, compiled from upstream source
# through the Go module proxy (no Docker, no envtest downloads on this kind of machine).
#
# Versions come from the wrapper modules' go.mod files under go/ (the single source of truth; the
# Python package reads the same files). Binaries go to a versioned cache outside the repo:
#   ${OCIDS_BIN_CACHE:-$HOME/.cache/ocids-operator/bin}/k8s-<v>/   kube-apiserver kube-controller-manager kubectl
#                                                      etcd-<v>/  etcd
#                                                      helm-<v>/  helm
# A binary is reused when it exists and reports the expected version; only missing ones are built.
# KUBEBUILDER_ASSETS=/dir (envtest convention) supplies binaries from elsewhere; whatever it lacks
# (typically kube-controller-manager and helm) is still built into the cache.
#
# Usage: build.sh            build what is missing
#        build.sh --print    print the resolved binary paths, build nothing (exit 1 when missing)
#        build.sh regen      after bumping k8s.io/kubernetes in go/kubernetes/go.mod: regenerate
#                            its staging-module replaces and re-tidy all wrapper modules
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache=${OCIDS_BIN_CACHE:-$HOME/.cache/ocids-operator/bin}
assets=${KUBEBUILDER_ASSETS:-}

# Reproducible, static, module-proxy-only builds, as upstream's release scripts configure them.
export GOTOOLCHAIN=local CGO_ENABLED=0
export GOFLAGS="-p=${OCIDS_GO_JOBS:-$(nproc)} -buildvcs=false -mod=readonly"

# modver <go.mod> <module>: the version a go.mod requires.
modver() {
  awk -v m="$2" '($1 == m && $2 ~ /^v/) {print $2; exit} ($1 == "require" && $2 == m) {print $3; exit}' "$1"
}

k8s_ver=$(modver "$here/go/kubernetes/go.mod" k8s.io/kubernetes)
etcd_ver=$(modver "$here/go/etcd/go.mod" go.etcd.io/etcd/server/v3)
helm_ver=$(modver "$here/go/helm/go.mod" helm.sh/helm/v3)

k8s_dir=$cache/k8s-$k8s_ver
etcd_dir=$cache/etcd-$etcd_ver
helm_dir=$cache/helm-$helm_ver

if [[ "${1:-}" == regen ]]; then
  cd "$here/go/kubernetes"
  staging=${k8s_ver/#v1./v0.}
  gomod=$(cd / && go list -m -json "k8s.io/kubernetes@$k8s_ver" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  for x in $(sed -nE 's/^replace (\S+) => .*/\1/p' go.mod); do go mod edit -dropreplace="$x"; done
  # Exactly the modules upstream replaces with ./staging/src/...; other k8s.io modules
  # (utils, kube-openapi, ...) are ordinary pseudo-versioned requirements.
  for x in $(sed -nE 's#^\s+(k8s\.io/\S+) => \./staging/.*#\1#p' "$gomod" | sort -u); do
    go mod edit -replace="$x=$x@$staging"
  done
  for d in kubernetes etcd helm; do (cd "$here/go/$d" && GOFLAGS=-mod=mod go mod tidy); done
  echo "regenerated: k8s.io/kubernetes $k8s_ver with staging modules at $staging"
  exit 0
fi

# version_ok <binary> <expected substring>: the binary exists and reports the expected version.
version_ok() {
  local bin=$1 want=$2 out
  [[ -x "$bin" ]] || return 1
  case $(basename "$bin") in
    kubectl) out=$("$bin" version --client 2>/dev/null) ;;
    helm) out=$("$bin" version --short 2>/dev/null) ;;
    *) out=$("$bin" --version 2>/dev/null) ;;
  esac
  [[ "$out" == *"$want"* ]]
}

# resolve <name> <cache dir> <expected>: prints the usable binary (assets first) or nothing.
resolve() {
  local name=$1 dir=$2 want=$3
  if [[ -n "$assets" && -x "$assets/$name" ]]; then
    echo "$assets/$name"
  elif version_ok "$dir/$name" "$want"; then
    echo "$dir/$name"
  fi
}

k8s_ldflags() {
  local minor ld="-s -w"
  minor=$(cut -d. -f2 <<<"$k8s_ver")
  # Release date of the tag, so the buildDate is reproducible rather than "now".
  local date
  date=$(cd / && go list -m -f '{{.Time.UTC.Format "2006-01-02T15:04:05Z"}}' "k8s.io/kubernetes@$k8s_ver")
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld+=" -X $p.gitVersion=$k8s_ver -X $p.gitMajor=1 -X $p.gitMinor=$minor"
    ld+=" -X $p.gitTreeState=clean -X $p.buildDate=$date"
  done
  echo "$ld"
}

helm_ldflags() {
  local cg major minor ld="-s -w"
  # As helm's Makefile does: the default Kubernetes version helm assumes for `helm template`
  # (.Capabilities.KubeVersion) follows the client-go it is built with.
  cg=$(modver "$here/go/helm/go.mod" k8s.io/client-go)
  major=$(($(cut -d. -f1 <<<"${cg#v}") + 1))
  minor=$(cut -d. -f2 <<<"$cg")
  ld+=" -X helm.sh/helm/v3/internal/version.version=$helm_ver -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
  for p in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
    ld+=" -X $p.k8sVersionMajor=$major -X $p.k8sVersionMinor=$minor"
  done
  echo "$ld"
}

# build <module dir> <package> <out dir> <name> <tags> <ldflags>
build() {
  local mod=$1 pkg=$2 dir=$3 name=$4 tags=$5 ldflags=$6
  local log=$cache/logs/$name.log start secs
  mkdir -p "$dir" "$cache/logs"
  echo "building $name ($pkg) -> $dir (log: $log)"
  start=$(date +%s)
  local timer=()
  [[ -x /usr/bin/time ]] && timer=(/usr/bin/time -v)
  if ! (cd "$here/go/$mod" && "${timer[@]}" nice go build -trimpath -tags "$tags" -ldflags "$ldflags" \
    -o "$dir/$name.tmp" "$pkg") >"$log" 2>&1; then
    tail -n 30 "$log" >&2
    echo "FAILED: $name (full log: $log)" >&2
    exit 1
  fi
  mv -f "$dir/$name.tmp" "$dir/$name"
  secs=$(($(date +%s) - start))
  local rss
  rss=$(sed -nE 's/.*Maximum resident set size \(kbytes\): ([0-9]+)/\1/p' "$log")
  if [[ -n "$rss" ]]; then
    echo "built $name in ${secs}s, peak RSS $((rss / 1024)) MiB"
  else
    echo "built $name in ${secs}s"
  fi
}

mode=${1:-build}
mkdir -p "$cache"
# Two concurrent `make controlplane` runs (e.g. parallel shells) must not build the same thing twice.
exec 9>"$cache/.lock"
flock 9

missing=0
check_or_build() {
  local name=$1 mod=$2 pkg=$3 dir=$4 want=$5 tags=$6 ldflags_fn=$7 path
  path=$(resolve "$name" "$dir" "$want")
  if [[ -n "$path" ]]; then
    echo "ok  $name: $path"
    return
  fi
  if [[ "$mode" == --print ]]; then
    echo "missing $name (expected $dir/$name at $want)"
    missing=1
    return
  fi
  build "$mod" "$pkg" "$dir" "$name" "$tags" "$($ldflags_fn)"
  version_ok "$dir/$name" "$want" || { echo "$dir/$name does not report $want" >&2; exit 1; }
}

none() { echo "-s -w"; }

total_start=$(date +%s)
check_or_build etcd etcd go.etcd.io/etcd/server/v3 "$etcd_dir" "${etcd_ver#v}" "" none
check_or_build kube-apiserver kubernetes k8s.io/kubernetes/cmd/kube-apiserver "$k8s_dir" "$k8s_ver" \
  selinux,notest k8s_ldflags
check_or_build kube-controller-manager kubernetes k8s.io/kubernetes/cmd/kube-controller-manager "$k8s_dir" \
  "$k8s_ver" selinux,notest k8s_ldflags
check_or_build kubectl kubernetes k8s.io/kubernetes/cmd/kubectl "$k8s_dir" "$k8s_ver" selinux,notest k8s_ldflags
check_or_build helm helm helm.sh/helm/v3/cmd/helm "$helm_dir" "$helm_ver" "" helm_ldflags
[[ "$mode" == --print ]] && exit "$missing"
echo "control plane binaries ready ($(($(date +%s) - total_start))s)"

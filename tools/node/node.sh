#!/usr/bin/env bash
# A real worker node for the local control plane: containerd (runc, cgroupfs) + kubelet +
# kube-scheduler as plain processes, so `helm install` really schedules and starts the operator Pod.
#
#   tools/node/node.sh build     build/fetch what is missing (kubelet, kube-scheduler, containerd, images)
#   tools/node/node.sh up        start the node against $KUBECONFIG (e.g. `make cluster-up`); idempotent
#   tools/node/node.sh down      stop everything `up` started and undo its host changes; idempotent
#   tools/node/node.sh status    exit 0 when the node's processes run
#   tools/node/node.sh import IMAGE...   copy images from podman's storage into the node's containerd
#
# Settings (environment): KUBECONFIG (the cluster, admin credentials: the kubelet and scheduler use
# them), OCIDS_NODE_DIR (state, default /tmp/ocids-node), OCIDS_NODE_NAME (default: hostname, which
# must resolve to a loopback address), OCIDS_NODE_HOST_PORTS (loopback ports Pods may reach at
# 10.244.0.1, e.g. the emulator's), OCIDS_BIN_CACHE, OCIDS_GO_JOBS (go build -p, default 1).
#
# Needs root, Debian packages runc, containernetworking-plugins, iptables, buildah, gcc (libc6-dev),
# Go >= 1.26 + the module proxy (for the kubelet build). See tools/node/README.md for what it
# changes on the host (sysctls, iptables, cgroups) and why; `down` restores all of it.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache=${OCIDS_BIN_CACHE:-$HOME/.cache/ocids-operator/bin}
S=${OCIDS_NODE_DIR:-${TMPDIR:-/tmp}/ocids-node}
node_name=${OCIDS_NODE_NAME:-$(hostname)}

modver() {
  awk -v m="$2" '($1 == m && $2 ~ /^v/) {print $2; exit} ($1 == "require" && $2 == m) {print $3; exit}' "$1"
}
k8s_ver=$(modver "$repo/tools/controlplane/go/kubernetes/go.mod" k8s.io/kubernetes)
node_bin=$cache/node-$k8s_ver
ctrd_deb_ver=$(apt-cache policy containerd 2>/dev/null | awk '/Candidate:/ {print $2}')
ctrd_dir=$cache/containerd-${ctrd_deb_ver//[:~+]/_}
img_dir=$cache/node-images
pause_image=localhost/pause:3.10.2
busybox_image=localhost/busybox:ocids
# Only the API server's ClusterIP is forwarded (to the loopback API server); see README.md.
chain=OCIDS-NODE
bridge=ocids0
pod_cidr=10.244.0.0/24
gateway=10.244.0.1 # the bridge's address (host-local IPAM's default gateway: the subnet's first)
sysctls=(vm/overcommit_memory vm/panic_on_oom kernel/panic kernel/panic_on_oops kernel/keys/root_maxkeys
  kernel/keys/root_maxbytes net/ipv4/ip_forward)
# Set by `up` itself (the bridge) rather than by the kubelet; restored by `down` like the others.

log() { echo "node: $*" >&2; }
die() { log "$*"; exit 1; }

# ---------------------------------------------------------------------------------------- build
build_k8s() {
  local b missing=()
  for b in kubelet kube-scheduler; do
    [[ -x $node_bin/$b ]] && "$node_bin/$b" --version 2>/dev/null | grep -q "$k8s_ver" || missing+=("$b")
  done
  [[ ${#missing[@]} -eq 0 ]] && return
  command -v go >/dev/null || export PATH=/usr/local/go/bin:$PATH
  # The committed wrapper module's go.sum lacks a few kubelet-only modules: build from a copy.
  local mod
  mod=$(mktemp -d)
  cp "$repo/tools/controlplane/go/kubernetes/go.mod" "$repo/tools/controlplane/go/kubernetes/go.sum" "$mod/"
  (cd "$mod" && GOTOOLCHAIN=local GOFLAGS=-mod=mod go get "k8s.io/kubernetes/pkg/kubelet/server@$k8s_ver" >/dev/null 2>&1)
  local date ld="-s -w" minor
  minor=$(cut -d. -f2 <<<"$k8s_ver")
  date=$(cd / && go list -m -f '{{.Time.UTC.Format "2006-01-02T15:04:05Z"}}' "k8s.io/kubernetes@$k8s_ver")
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld+=" -X $p.gitVersion=$k8s_ver -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean -X $p.buildDate=$date"
  done
  mkdir -p "$node_bin" "$cache/logs"
  for b in "${missing[@]}"; do
    log "building $b $k8s_ver (log: $cache/logs/$b.log)"
    local t0=$SECONDS
    (cd "$mod" && GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS="-p=${OCIDS_GO_JOBS:-1} -buildvcs=false -mod=readonly" \
      nice go build -trimpath -tags selinux,notest -ldflags "$ld" -o "$node_bin/$b.tmp" "k8s.io/kubernetes/cmd/$b") \
      >"$cache/logs/$b.log" 2>&1 || { tail -20 "$cache/logs/$b.log"; rm -rf "$mod"; die "building $b failed"; }
    mv -f "$node_bin/$b.tmp" "$node_bin/$b"
    log "built $b in $((SECONDS - t0))s"
  done
  rm -rf "$mod"
}

# containerd 1.6 from Debian, unpacked into the cache (not installed: no system service appears).
fetch_containerd() {
  [[ -x $ctrd_dir/usr/bin/containerd && -x $img_dir/busybox ]] && return
  local tmp
  tmp=$(mktemp -d)
  (cd "$tmp" && apt-get download containerd busybox-static >/dev/null 2>&1) || { rm -rf "$tmp"; die "apt-get download containerd busybox-static failed"; }
  mkdir -p "$ctrd_dir" "$img_dir"
  dpkg-deb -x "$tmp"/containerd_*.deb "$ctrd_dir"
  dpkg-deb -x "$tmp"/busybox-static_*.deb "$tmp/bb"
  cp "$tmp/bb/bin/busybox" "$img_dir/busybox"
  rm -rf "$tmp"
}

# The sandbox (pause) image and a busybox image, built locally: there is no registry to pull from.
build_images() {
  [[ -f $img_dir/pause.tar && -f $img_dir/busybox.tar ]] && return
  local src
  src=$(cd / && GOFLAGS=-mod=mod go list -m -f '{{.Dir}}' "k8s.io/kubernetes@$k8s_ver" 2>/dev/null || true)
  [[ -f $src/build/pause/linux/pause.c ]] || src=$(go env GOMODCACHE)/k8s.io/kubernetes@$k8s_ver
  mkdir -p "$img_dir"
  gcc -Os -static -DVERSION="$k8s_ver-ocids" -o "$img_dir/pause" "$src/build/pause/linux/pause.c"
  strip "$img_dir/pause"
  local st B c
  st=$(mktemp -d)
  B=(buildah --root "$st/root" --runroot "$st/run" --storage-driver vfs)
  c=$("${B[@]}" from scratch)
  "${B[@]}" copy -q "$c" "$img_dir/pause" /pause
  "${B[@]}" config --entrypoint '["/pause"]' --user 65535:65535 "$c"
  "${B[@]}" commit -q "$c" "$pause_image" >/dev/null
  c=$("${B[@]}" from scratch)
  "${B[@]}" copy -q "$c" "$img_dir/busybox" /bin/busybox
  "${B[@]}" run --isolation chroot "$c" -- /bin/busybox --install -s /bin
  "${B[@]}" config --cmd '["/bin/sh"]' --env PATH=/bin "$c"
  "${B[@]}" commit -q "$c" "$busybox_image" >/dev/null
  "${B[@]}" push -q "$pause_image" "oci-archive:$img_dir/pause.tar:$pause_image"
  "${B[@]}" push -q "$busybox_image" "oci-archive:$img_dir/busybox.tar:$busybox_image"
  "${B[@]}" rm -a >/dev/null
  rm -rf "$st" 2>/dev/null || true
}

cmd_build() {
  [[ $(id -u) == 0 ]] || die "must run as root"
  fetch_containerd
  build_k8s
  build_images
}

# ------------------------------------------------------------------------------------ processes
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# start <name> <cmd...>: in its own session, pid in $S/<name>.pid, output in $S/logs/<name>.log.
start() {
  local name=$1
  shift
  setsid "$@" >"$S/logs/$name.log" 2>&1 </dev/null &
  echo $! >"$S/$name.pid"
}

# running <name>: its recorded pid still runs the binary it was started with.
running() {
  local pid
  pid=$(cat "$S/$1.pid" 2>/dev/null) || return 1
  [[ -n $pid && -e /proc/$pid ]] || return 1
  grep -qz -- "$1" "/proc/$pid/cmdline" 2>/dev/null
}

stop_proc() {
  local name=$1 pid i
  if running "$name"; then
    pid=$(cat "$S/$name.pid")
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 100); do [[ -e /proc/$pid ]] || break; sleep 0.1; done
    [[ -e /proc/$pid ]] && kill -KILL "$pid" 2>/dev/null
    log "stopped $name (pid $pid)"
  fi
  rm -f "$S/$name.pid"
}

wait_for() { # wait_for <seconds> <what> <command...>
  local n=$1 what=$2
  shift 2
  for ((i = 0; i < n * 4; i++)); do "$@" >/dev/null 2>&1 && return 0; sleep 0.25; done
  die "timed out waiting for $what; see $S/logs/"
}

ctr_() { "$ctrd_dir/usr/bin/ctr" -a "$S/containerd/containerd.sock" -n k8s.io "$@"; }

cmd_import() {
  running containerd || die "the node is not up"
  local img
  for img in "$@"; do
    podman image save -q --format docker-archive -o "$S/import.tar" "$img" >/dev/null
    ctr_ images import "$S/import.tar" >/dev/null
    rm -f "$S/import.tar"
    log "imported $img"
  done
}

cmd_up() {
  [[ $(id -u) == 0 ]] || die "must run as root"
  local kc=${KUBECONFIG:-}
  [[ -f $kc ]] || die "set KUBECONFIG to the cluster's admin kubeconfig (e.g. from \`make cluster-up\`)"
  kc=$(realpath "$kc")
  if running containerd && running kubelet && running kube-scheduler; then
    log "already up (state: $S)"
    return 0
  fi
  cmd_down >/dev/null 2>&1 || true
  cmd_build
  local kubectl
  kubectl=$(ls "$cache"/k8s-"$k8s_ver"/kubectl 2>/dev/null || command -v kubectl) || die "no kubectl"
  mkdir -p "$S"/{logs,containerd,cni/net.d,kubelet,scheduler}
  echo "$kc" >"$S/kubeconfig.path"
  # Host changes, recorded first so `down` can restore them even after a failed `up`.
  [[ -f $S/sysctl.orig ]] || for k in "${sysctls[@]}"; do echo "$k=$(cat /proc/sys/$k)"; done >"$S/sysctl.orig"

  # --- in-cluster access to the loopback API server (no kube-proxy, no Service endpoints):
  # DNAT the "kubernetes" Service's ClusterIP:443 to the API server's 127.0.0.1 port.
  local server api_port svc_ip
  server=$(KUBECONFIG=$kc "$kubectl" config view --minify -o jsonpath='{.clusters[0].cluster.server}')
  api_port=${server##*:}
  svc_ip=$(KUBECONFIG=$kc "$kubectl" get svc kubernetes -n default -o jsonpath='{.spec.clusterIP}')
  iptables -t nat -N "$chain" 2>/dev/null || iptables -t nat -F "$chain"
  iptables -t nat -A "$chain" -d "$svc_ip/32" -p tcp --dport 443 -j DNAT --to-destination "127.0.0.1:$api_port"
  # OCIDS_NODE_HOST_PORTS="12000 ...": loopback services of this machine (e.g. the OCI emulator)
  # that Pods reach at the bridge's address, http://$gateway:<port>.
  local p
  local ports=${OCIDS_NODE_HOST_PORTS:-}
  for p in ${ports//,/ }; do
    iptables -t nat -A "$chain" -d "$gateway/32" -p tcp --dport "$p" -j DNAT --to-destination "127.0.0.1:$p"
  done
  iptables -t nat -C PREROUTING -j "$chain" 2>/dev/null || iptables -t nat -I PREROUTING -j "$chain"
  iptables -t nat -C OUTPUT -j "$chain" 2>/dev/null || iptables -t nat -I OUTPUT -j "$chain"
  # Pods reach this machine only: nothing is forwarded between their bridge and other interfaces.
  iptables -t filter -N "$chain" 2>/dev/null || iptables -t filter -F "$chain"
  iptables -t filter -A "$chain" -i "$bridge" ! -o "$bridge" -j DROP
  iptables -t filter -A "$chain" -o "$bridge" ! -i "$bridge" -j DROP
  iptables -t filter -C FORWARD -j "$chain" 2>/dev/null || iptables -t filter -I FORWARD -j "$chain"

  # --- what the bundled control plane lacks for in-cluster clients (admission-policies.yaml):
  # the ServiceAccount token volume (its ServiceAccount admission plugin is off) and a name for the
  # "kubernetes" Service (no cluster DNS), both added to new Pods by MutatingAdmissionPolicies.
  sed "s/__SERVICE_IP__/$svc_ip/g" "$here/admission-policies.yaml" | KUBECONFIG=$kc "$kubectl" apply -f - >/dev/null
  sleep 2 # the API server enforces a new policy about a second after it is created

  # --- containerd
  cat >"$S/containerd/config.toml" <<EOF
version = 2
root = "$S/containerd/root"
state = "$S/containerd/state"
[grpc]
  address = "$S/containerd/containerd.sock"
[ttrpc]
  address = "$S/containerd/containerd.sock.ttrpc"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$pause_image"
  disable_apparmor = true
  # Without CAP_SYS_RESOURCE (dropped on these machines) runc cannot lower oom_score_adj below
  # containerd's own, and the sandbox's -998 fails with "can't get final child's PID from pipe".
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        BinaryName = "$(command -v runc)"
        Root = "$S/containerd/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$S/cni/net.d"
[plugins."io.containerd.internal.v1.opt"]
  path = "$S/containerd/opt"
EOF
  # A bridge network on the host only (no masquerade, no route out): containerd reports the node's
  # network ready only with a CNI config, and non-hostNetwork Pods (the chart's) need an address.
  cat >"$S/cni/net.d/10-ocids.conflist" <<EOF
{"cniVersion": "1.0.0", "name": "ocids", "plugins": [
  {"type": "bridge", "bridge": "$bridge", "isGateway": true, "ipMasq": false, "hairpinMode": true,
   "ipam": {"type": "host-local", "ranges": [[{"subnet": "$pod_cidr"}]], "routes": [{"dst": "0.0.0.0/0"}],
            "dataDir": "$S/cni/ipam"}},
  {"type": "portmap", "capabilities": {"portMappings": true}}]}
EOF
  # The Pods' bridge, made here (the CNI bridge plugin reuses it) so that packets from Pods to the
  # DNATed 127.0.0.1 address are routed on it, and on no other interface (route_localnet).
  ip link show "$bridge" >/dev/null 2>&1 || ip link add "$bridge" type bridge
  ip link set "$bridge" up
  echo 1 >"/proc/sys/net/ipv4/conf/$bridge/route_localnet"
  PATH=$ctrd_dir/usr/bin:$PATH start containerd "$ctrd_dir/usr/bin/containerd" --config "$S/containerd/config.toml"
  wait_for 30 containerd ctr_ version
  ctr_ images import "$img_dir/pause.tar" >/dev/null
  ctr_ images import "$img_dir/busybox.tar" >/dev/null

  # --- kubelet
  local kubelet_port healthz_port sched_port
  kubelet_port=$(free_port) healthz_port=$(free_port) sched_port=$(free_port)
  cat >"$S/kubelet/config.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: 127.0.0.1
port: $kubelet_port
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: $healthz_port
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
containerRuntimeEndpoint: unix://$S/containerd/containerd.sock
authentication:
  anonymous: {enabled: true}
  webhook: {enabled: false}
authorization:
  mode: AlwaysAllow
podLogsDir: $S/kubelet/pod-logs
volumePluginDir: $S/kubelet/volume-plugins
serializeImagePulls: false
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {}
localStorageCapacityIsolation: false
# No DNS servers in Pods: nothing in them may reach past this machine (names come from hostAliases).
resolvConf: ""
clusterDomain: cluster.local
maxPods: 30
EOF
  start kubelet "$node_bin/kubelet" --config="$S/kubelet/config.yaml" --kubeconfig="$kc" \
    --root-dir="$S/kubelet/root" --cert-dir="$S/kubelet/pki" --hostname-override="$node_name" \
    --v=1
  echo "$healthz_port" >"$S/kubelet.healthz"
  wait_for 60 "kubelet /healthz" curl -sf "http://127.0.0.1:$healthz_port/healthz"

  # --- kube-scheduler
  start kube-scheduler "$node_bin/kube-scheduler" --kubeconfig="$kc" --authentication-kubeconfig="$kc" \
    --authorization-kubeconfig="$kc" --leader-elect=false --bind-address=127.0.0.1 \
    --secure-port="$sched_port" --profiling=false
  wait_for 60 "kube-scheduler /healthz" curl -sfk "https://127.0.0.1:$sched_port/healthz"

  wait_for 90 "node $node_name Ready" sh -c "KUBECONFIG='$kc' '$kubectl' get node '$node_name' \
    -o jsonpath='{.status.conditions[?(@.type==\"Ready\")].status}' | grep -qx True"
  log "node $node_name Ready (state: $S, images: $pause_image $busybox_image)"
}

# ------------------------------------------------------------------------------------------ down
cmd_down() {
  [[ $(id -u) == 0 ]] || die "must run as root"
  [[ -d $S ]] || return 0
  local kc kubectl
  kc=$(cat "$S/kubeconfig.path" 2>/dev/null || true)
  kubectl=$(ls "$cache"/k8s-"$k8s_ver"/kubectl 2>/dev/null || command -v kubectl || true)
  stop_proc kube-scheduler
  stop_proc kubelet
  if running containerd; then
    # Every container and sandbox: kill its task, delete it (the shim exits), remove it.
    local id
    for id in $(ctr_ tasks ls -q 2>/dev/null); do ctr_ tasks kill -s KILL "$id" >/dev/null 2>&1 || true; done
    sleep 0.5
    for id in $(ctr_ tasks ls -q 2>/dev/null); do ctr_ tasks delete -f "$id" >/dev/null 2>&1 || true; done
    for id in $(ctr_ containers ls -q 2>/dev/null); do ctr_ containers rm "$id" >/dev/null 2>&1 || true; done
  fi
  stop_proc containerd
  # Shims whose containerd is gone (they were started with our socket in their arguments).
  local pid
  for pid in $(pgrep -f "containerd-shim-runc-v2 .*-address $S/containerd/containerd.sock" || true); do
    kill -KILL "$pid" 2>/dev/null || true
  done
  # Mounts under the state dir (rootfs overlays, secret tmpfs, shm) and the Pods' network namespaces.
  local m
  for m in $(awk -v s="$S/" 'index($5, s) == 1 {print $5}' /proc/self/mountinfo | sort -r); do
    umount -l "$m" 2>/dev/null || true
  done
  if [[ -d $S/cni/ipam ]]; then
    for ns in $(ip netns list 2>/dev/null | awk '/^cni-/ {print $1}'); do
      ip netns exec "$ns" ip -4 addr 2>/dev/null | grep -q "10\.244\.0\." && ip netns delete "$ns" 2>/dev/null || true
    done
  fi
  ip link del "$bridge" 2>/dev/null || true
  # iptables
  iptables -t nat -D PREROUTING -j "$chain" 2>/dev/null || true
  iptables -t nat -D OUTPUT -j "$chain" 2>/dev/null || true
  iptables -t nat -F "$chain" 2>/dev/null || true
  iptables -t nat -X "$chain" 2>/dev/null || true
  iptables -t filter -D FORWARD -j "$chain" 2>/dev/null || true
  iptables -t filter -F "$chain" 2>/dev/null || true
  iptables -t filter -X "$chain" 2>/dev/null || true
  # The kubelet's own chains (it always creates them; no setting turns that off), IPv4 and IPv6.
  local ipt t c
  for ipt in iptables ip6tables; do
    "$ipt" -t filter -D INPUT -j KUBE-FIREWALL 2>/dev/null || true
    "$ipt" -t filter -D OUTPUT -j KUBE-FIREWALL 2>/dev/null || true
    for t in filter nat mangle; do
      for c in KUBE-FIREWALL KUBE-KUBELET-CANARY KUBE-IPTABLES-HINT; do
        "$ipt" -t "$t" -F "$c" 2>/dev/null && "$ipt" -t "$t" -X "$c" 2>/dev/null || true
      done
    done
  done
  # containerd 1.6 puts its shims' sockets under /run/containerd/s whatever its state dir; remove
  # what is left of that tree when empty (never another containerd's files).
  rmdir /run/containerd/s /run/containerd/runc/k8s.io /run/containerd/runc /run/containerd 2>/dev/null || true
  # The cgroups the kubelet created (kubepods hierarchy), deepest first, once empty.
  local d
  for d in /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/*/kubepods.slice; do
    [[ -d $d ]] && find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null || true
  done
  # The kernel settings the kubelet changed.
  if [[ -f $S/sysctl.orig ]]; then
    local kv
    while IFS= read -r kv; do echo "${kv#*=}" >"/proc/sys/${kv%%=*}" 2>/dev/null || true; done <"$S/sysctl.orig"
  fi
  if [[ -n $kc && -f $kc && -n $kubectl ]]; then
    KUBECONFIG=$kc timeout 10 "$kubectl" delete node "$node_name" --ignore-not-found >/dev/null 2>&1 || true
    KUBECONFIG=$kc timeout 10 "$kubectl" delete --ignore-not-found \
      mutatingadmissionpolicybinding,mutatingadmissionpolicy \
      ocids-node-serviceaccount-token ocids-node-kubernetes-service-name >/dev/null 2>&1 || true
  fi
  # Everything but the logs (kept for post-mortems; the next `up` replaces them).
  find "$S" -mindepth 1 -maxdepth 1 ! -name logs -exec rm -rf {} +
  log "down (logs kept in $S/logs)"
}

cmd_status() {
  local n
  for n in containerd kubelet kube-scheduler; do
    running "$n" || { echo "not running: $n"; return 1; }
  done
  echo "running (state: $S, node: $node_name)"
}

case ${1:-} in
  build) cmd_build ;;
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  import) shift; cmd_import "$@" ;;
  *) echo "usage: $0 build|up|down|status|import IMAGE..." >&2; exit 2 ;;
esac

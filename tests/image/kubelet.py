"""Start a rendered Deployment's container with podman the way a kubelet would start its pod.

Everything comes from the rendered YAML: command/args, env, the pod and container security
contexts (user, group, fsGroup, read-only root, capabilities, no-new-privileges, seccomp), memory
limit, and each volumeMount (emptyDir, Secret items with their modes). What the node adds is
reproduced too: the ServiceAccount token + ca.crt + namespace, the KUBERNETES_SERVICE_* variables
and `kubernetes.default.svc` (cluster DNS) pointing at the API server through a stand-in for the
Service's ClusterIP:443 (`ServiceProxy`, a kube-proxy of one rule). Anything the function cannot reproduce
faithfully raises instead of being skipped.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
SERVICE_NAMES = (
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
)
UNITS = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "K": 10**3, "M": 10**6, "G": 10**9}


@dataclass
class Node:
    """What the node gives the pod besides the image."""

    workdir: Path
    # KUBERNETES_SERVICE_HOST/PORT: a ClusterIP and 443 on a node; here the API server itself
    # (127.0.0.1, which its certificate covers, as a real one covers its ClusterIP).
    service_host: str
    service_port: int
    # What `kubernetes.default.svc` resolves to (ServiceProxy's address, port 443): kopf's
    # service-account login ignores the variables above and dials that name.
    service_dns_ip: str
    token: str
    ca_cert: bytes
    namespace: str
    secret_data: Callable[[str], dict[str, bytes]]


def quantity_bytes(quantity: str) -> int:
    for suffix, factor in UNITS.items():
        if quantity.endswith(suffix):
            return int(float(quantity[: -len(suffix)]) * factor)
    return int(quantity)


def _write(path: Path, data: bytes, mode: int, uid: int = 0, gid: int = 0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    os.chown(path, uid, gid)
    os.chmod(path, mode)


def _secret_volume(volume: dict[str, Any], host: Path, node: Node, fs_group: int | None) -> None:
    secret = volume["secret"]
    data = node.secret_data(secret["secretName"])
    items = secret.get("items") or [{"key": k, "path": k} for k in data]
    for item in items:
        if item["key"] not in data:
            raise AssertionError(f"Secret {secret['secretName']} has no key {item['key']!r}")
        mode = item.get("mode", secret.get("defaultMode", 0o644))
        # kubelet's fsGroup ownership for a read-only volume: group fsGroup, plus group read.
        gid = 0 if fs_group is None else fs_group
        if fs_group is not None:
            mode |= 0o440
        _write(host / item["path"], data[item["key"]], mode, 0, gid)
    host.chmod(0o755 if fs_group is None else 0o2755)
    if fs_group is not None:
        os.chown(host, 0, fs_group)


def _empty_dir(host: Path, fs_group: int | None) -> None:
    host.mkdir(parents=True)
    host.chmod(0o777 if fs_group is None else 0o2777)
    if fs_group is not None:
        os.chown(host, 0, fs_group)


def _service_account(host: Path, node: Node, run_as_user: int | None) -> None:
    """The projected token volume: with runAsUser, kubelet makes the files that user's, mode 0600."""
    uid, mode = (run_as_user, 0o600) if run_as_user is not None else (0, 0o644)
    for name, data in (
        ("token", node.token.encode()),
        ("ca.crt", node.ca_cert),
        ("namespace", node.namespace.encode()),
    ):
        _write(host / name, data, mode, uid, 0)


def _security(pod: dict[str, Any], container: dict[str, Any]) -> tuple[list[str], int | None, int | None]:
    psc, csc = pod.get("securityContext") or {}, container.get("securityContext") or {}
    merged = {**psc, **csc}
    user, group, fs_group = merged.get("runAsUser"), merged.get("runAsGroup"), psc.get("fsGroup")
    args: list[str] = []
    if merged.get("runAsNonRoot") and (user is None or user == 0):
        raise AssertionError("runAsNonRoot needs a non-zero runAsUser here (kubelet would check the image)")
    if user is not None:
        args += ["--user", f"{user}:{group if group is not None else 0}"]
    for extra in [fs_group, *psc.get("supplementalGroups", [])]:
        if extra is not None:
            args += ["--group-add", str(extra)]
    if csc.get("readOnlyRootFilesystem"):
        # podman would otherwise put tmpfs on /tmp, /run and /var/tmp and hide a missing volume.
        args += ["--read-only", "--read-only-tmpfs=false"]
    if csc.get("allowPrivilegeEscalation") is False:
        args += ["--security-opt", "no-new-privileges"]
    if csc.get("privileged"):
        raise AssertionError("privileged containers are not reproduced")
    caps = csc.get("capabilities") or {}
    args += [f"--cap-drop={c}" for c in caps.get("drop", [])] + [
        f"--cap-add={c}" for c in caps.get("add", [])
    ]
    seccomp = (merged.get("seccompProfile") or {}).get("type", "RuntimeDefault")
    if seccomp == "Unconfined":
        args += ["--security-opt", "seccomp=unconfined"]
    elif seccomp != "RuntimeDefault":
        raise AssertionError(f"seccompProfile {seccomp} is not reproduced")
    return args, user, fs_group


def _env(container: dict[str, Any], node: Node, pod_name: str) -> list[str]:
    host, port = node.service_host, node.service_port
    # The variables kubelet injects for the `kubernetes` Service; the container's own come after
    # and win, and a later duplicate wins over an earlier one, as in Kubernetes.
    env = {
        "KUBERNETES_SERVICE_HOST": host,
        "KUBERNETES_SERVICE_PORT": str(port),
        "KUBERNETES_SERVICE_PORT_HTTPS": str(port),
        "KUBERNETES_PORT": f"tcp://{host}:{port}",
        f"KUBERNETES_PORT_{port}_TCP": f"tcp://{host}:{port}",
        f"KUBERNETES_PORT_{port}_TCP_PROTO": "tcp",
        f"KUBERNETES_PORT_{port}_TCP_PORT": str(port),
        f"KUBERNETES_PORT_{port}_TCP_ADDR": host,
    }
    # The downward API: of the pod's fields, what the chart reads.
    fields = {"metadata.namespace": node.namespace, "metadata.name": pod_name}
    for item in container.get("env", []):
        if "value" not in item and "valueFrom" in item:
            path = (item["valueFrom"].get("fieldRef") or {}).get("fieldPath")
            if path not in fields:
                raise AssertionError(f"env {item['name']}: valueFrom {item['valueFrom']} is not reproduced")
            env[item["name"]] = fields[path]
            continue
        env[item["name"]] = str(item.get("value", ""))
    if container.get("envFrom"):
        raise AssertionError("envFrom is not reproduced")
    return [arg for name, value in env.items() for arg in ("--env", f"{name}={value}")]


def _volumes(
    pod: dict[str, Any], container: dict[str, Any], node: Node, user: int | None, fs_group: int | None
) -> list[str]:
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    args: list[str] = []
    for mount in container.get("volumeMounts", []):
        if mount.get("subPath") or mount.get("subPathExpr"):
            raise AssertionError("subPath mounts are not reproduced")
        volume = volumes[mount["name"]]
        host = node.workdir / "volumes" / mount["name"]
        if "emptyDir" in volume:
            if volume["emptyDir"].get("medium") == "Memory":
                raise AssertionError("memory emptyDirs are not reproduced")
            _empty_dir(host, fs_group)
        elif "secret" in volume:
            _secret_volume(volume, host, node, fs_group)
        else:
            raise AssertionError(f"volume {mount['name']}: only emptyDir and secret are reproduced")
        # Secret volumes are read-only whatever the mount says.
        options = "ro" if mount.get("readOnly") or "secret" in volume else "rw"
        args += ["--volume", f"{host}:{mount['mountPath']}:{options}"]
    if pod.get("automountServiceAccountToken", True):
        host = node.workdir / "volumes" / "kube-api-access"
        _service_account(host, node, user)
        args += ["--volume", f"{host}:{SA_DIR}:ro"]
    return args


def podman_run_args(deployment: dict[str, Any], node: Node, name: str) -> list[str]:
    """`podman run` arguments for the Deployment's one container (without `run` itself)."""
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    if pod.get("initContainers"):
        raise AssertionError("init containers are not reproduced")
    security, user, fs_group = _security(pod, container)
    args = ["--name", name, "--network", "host", *security]
    args += [arg for n in SERVICE_NAMES for arg in ("--add-host", f"{n}:{node.service_dns_ip}")]
    limits = (container.get("resources") or {}).get("limits") or {}
    if "memory" in limits:
        args += ["--memory", str(quantity_bytes(str(limits["memory"])))]
    args += _env(container, node, pod_name=name)
    args += _volumes(pod, container, node, user, fs_group)
    if container.get("workingDir"):
        args += ["--workdir", container["workingDir"]]
    if "command" in container:
        args += ["--entrypoint", json.dumps(container["command"])]
    return [*args, container["image"], *container.get("args", [])]


def describe(args: list[str]) -> str:
    """The command line, with the token's file path only (its value is never in argv anyway)."""
    return shlex.join(["podman", "run", *args])


class ServiceProxy:
    """The `kubernetes` Service: a ClusterIP-like address (a loopback one, port 443) forwarding
    every connection to the API server, as kube-proxy does. TLS passes through untouched, so the
    operator verifies the API server's certificate (it covers kubernetes.default.svc) itself."""

    def __init__(self, target: tuple[str, int], host: str, port: int = 443) -> None:
        self.target = target
        self.server = socket.create_server((host, port), reuse_port=False)
        self.host, self.port = host, port
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=10)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        # One direction; its end is passed on as a half-close so the other can finish.
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                dst.sendall(data)
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        self.server.close()

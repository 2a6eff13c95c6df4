"""Start a rendered Deployment's container with podman the way a kubelet would start its pod.

Everything comes from the rendered YAML: command/args, env, the pod and container security
contexts (user, group, fsGroup, read-only root, capabilities, no-new-privileges, seccomp), memory
limit, and each volumeMount (emptyDir, Secret items with their modes). What the node adds is
reproduced too: the ServiceAccount token + ca.crt + namespace and the KUBERNETES_SERVICE_* variables
pointing at the API server through a stand-in for the Service's ClusterIP:443 (`ServiceProxy`, a
kube-proxy of one rule). There is no cluster DNS: `kubernetes.default.svc` does not resolve in the
container, as in a hostNetwork Pod or while CoreDNS is down, so anything that dials that name fails.
Anything the function cannot reproduce faithfully raises instead of being skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shlex
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ocids_controlplane import pki

SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
# The names cluster DNS would give the `kubernetes` Service: none of them resolves in the container.
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
    # KUBERNETES_SERVICE_HOST/PORT: a ClusterIP and 443 on a node; here ServiceProxy's address.
    service_host: str
    service_port: int
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
    """The `kubernetes` Service: a ClusterIP-like address (a loopback one, port 443) in front of the
    API server, as kube-proxy puts one.

    A real API server's certificate covers its Service's ClusterIP (and names), and in-cluster
    clients (client-go, the operator) verify the address they dial. The test API server's covers
    127.0.0.1 only, so the stand-in presents a certificate for its own address and the Service's
    names, signed by a CA of its own that the Pod's ca.crt carries next to the cluster's
    (`ca_cert`), and relays the bytes to the API server over TLS verified with the cluster's CA.
    Bearer tokens pass through untouched."""

    def __init__(
        self, target: tuple[str, int], host: str, upstream_ca: bytes, workdir: Path, port: int = 443
    ) -> None:
        self.target = target
        self.host, self.port = host, port
        # The names and the address a real API server's certificate carries for its Service.
        ca, cert, key = pki.write_serving_pair(workdir / "service-tls", ips=(host,), dns_names=SERVICE_NAMES)
        self.ca_cert = ca.read_bytes()
        self._serve = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._serve.load_cert_chain(cert, key)
        self._upstream = ssl.create_default_context(cadata=upstream_ca.decode())
        self._loop = asyncio.new_event_loop()
        threading.Thread(target=self._loop.run_forever, daemon=True).start()
        self.server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._relay, host, port, ssl=self._serve), self._loop
        ).result(timeout=10)

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.wait_for(
                asyncio.open_connection(*self.target, ssl=self._upstream), timeout=10
            )
        except (OSError, TimeoutError):
            writer.close()
            return
        await asyncio.gather(self._pump(reader, up_writer), self._pump(up_reader, writer))

    @staticmethod
    async def _pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        # TLS has no half-close: one side's end ends the connection, as HTTP/1.1 expects anyway.
        with contextlib.suppress(OSError, ssl.SSLError, asyncio.IncompleteReadError):
            while data := await src.read(65536):
                dst.write(data)
                await dst.drain()
        dst.close()

    def close(self) -> None:
        self._loop.call_soon_threadsafe(self.server.close)
        self._loop.call_soon_threadsafe(self._loop.stop)

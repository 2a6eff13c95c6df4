"""The chart, rendered for a test and installed the way `helm install` would: its RBAC, its
ServiceAccount and the OCI config Secret it mounts go to the real API server, and its Deployment's
container is started from the image by `kubelet.podman_run_args`.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import random
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from kubelet import Node, ServiceProxy, describe, podman_run_args
from ocids_controlplane import Cluster, binaries
from podman_cli import Container

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "ocids-operator"
RBAC_KINDS = ("ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding")


def helm_template(workdir: Path, release: str, namespace: str, values: list[str]) -> list[dict[str, Any]]:
    try:
        exe = str(binaries.binary("helm"))
    except binaries.MissingBinaryError as exc:
        pytest.fail(str(exc), pytrace=False)
    env = {f"HELM_{k}_HOME": str(workdir / "helm" / k.lower()) for k in ("CACHE", "CONFIG", "DATA")}
    env["PATH"] = "/usr/bin:/bin"
    cmd = [exe, "template", release, str(CHART), "--namespace", namespace, *values]
    result = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120, check=False)
    if result.returncode != 0:
        raise AssertionError(f"helm template failed:\n{result.stderr}")
    import yaml

    return [d for d in yaml.safe_load_all(result.stdout) if d]


def random_loopback() -> str:
    """A ClusterIP stand-in: any 127/8 address is local, so parallel tests each get their own :443."""
    return f"127.{random.randint(1, 254)}.{random.randint(0, 255)}.{random.randint(1, 254)}"


def split_image(image: str) -> tuple[str, str]:
    repository, sep, tag = image.rpartition(":")
    if not sep or "/" in tag:
        return image, "latest"
    return repository, tag


def emulator_config_for_mount(config_file: Path, mount_path: str, key_key: str) -> tuple[str, bytes]:
    """The emulator's OCI config with key_file moved to where the Secret puts the key, and that key."""
    lines, key = [], b""
    for line in config_file.read_text().splitlines():
        name, sep, value = line.partition("=")
        if sep and name.strip() == "key_file":
            key = Path(value.strip()).read_bytes()
            line = f"key_file={mount_path}/{key_key}"
        lines.append(line)
    assert key, f"{config_file} names no key_file"
    return "\n".join(lines) + "\n", key


@dataclass
class ChartPod:
    """One rendered release in a test namespace, ready to start."""

    cluster: Cluster
    namespace: str
    docs: list[dict[str, Any]]
    workdir: Path
    proxy: ServiceProxy | None = None
    containers: list[Container] = field(default_factory=list)
    # The `kubernetes` Service's ClusterIP stand-in (ServiceProxy's address, random when unset):
    # KUBERNETES_SERVICE_HOST/PORT are that address and 443, as a kubelet sets them (OKE workload
    # identity dials KUBERNETES_SERVICE_HOST:12250 too, the proxymux).
    service_ip: str | None = None
    # More CA certificates in the mounted ca.crt besides the API server's (a real cluster's CA
    # signs the proxymux's certificate too; here the emulator's proxymux has its own CA).
    extra_ca_certs: bytes = b""
    _node: Node | None = None

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [d for d in self.docs if d["kind"] == kind]

    @property
    def deployment(self) -> dict[str, Any]:
        (deployment,) = self.of_kind("Deployment")
        return deployment

    @property
    def container_spec(self) -> dict[str, Any]:
        (container,) = self.deployment["spec"]["template"]["spec"]["containers"]
        return dict(container)

    def port(self, name: str) -> int:
        return next(int(p["containerPort"]) for p in self.container_spec["ports"] if p["name"] == name)

    def install(self, config_file: Path) -> None:
        """RBAC + ServiceAccount from the render, and the OCI config Secret the Deployment mounts."""
        rbac = [d for d in self.docs if d["kind"] in RBAC_KINDS]
        self.cluster.kubectl("apply", "-f", "-", input="\n---\n".join(json.dumps(d) for d in rbac))
        pod = self.deployment["spec"]["template"]["spec"]
        for volume in pod.get("volumes", []):
            if "secret" not in volume:
                continue
            secret = volume["secret"]
            mount = next(m for m in self.container_spec["volumeMounts"] if m["name"] == volume["name"])
            # The config is the item OCIDS_OCI_CONFIG_FILE names; the other one is the key it points at.
            env = {e["name"]: e.get("value") for e in self.container_spec["env"]}
            config_name = Path(env["OCIDS_OCI_CONFIG_FILE"]).name
            config_key = next(i["key"] for i in secret["items"] if i["path"] == config_name)
            key_key = next(i["key"] for i in secret["items"] if i["key"] != config_key)
            config, key = emulator_config_for_mount(config_file, mount["mountPath"], key_key)
            keys = self.workdir / "secret"
            keys.mkdir(parents=True, exist_ok=True)
            (keys / "config").write_text(config)
            (keys / "key").write_bytes(key)
            self.cluster.kubectl(
                "create", "secret", "generic", secret["secretName"], "-n", self.namespace,
                f"--from-file={config_key}={keys / 'config'}", f"--from-file={key_key}={keys / 'key'}",
            )  # fmt: skip

    def secret_data(self, name: str) -> dict[str, bytes]:
        """What kubelet reads: the Secret from the API server, not the files the test wrote."""
        secret = json.loads(
            self.cluster.kubectl("get", "secret", name, "-n", self.namespace, "-o", "json").stdout
        )
        return {k: base64.b64decode(v) for k, v in (secret.get("data") or {}).items()}

    def node(self) -> Node:
        """The node's side: a token of the chart's ServiceAccount, the cluster CA, the Service
        (no cluster DNS: only KUBERNETES_SERVICE_HOST/PORT lead to the API server)."""
        if self._node is None:
            pod = self.deployment["spec"]["template"]["spec"]
            account = pod.get("serviceAccountName", "default")
            token = self.cluster.kubectl("create", "token", account, "-n", self.namespace, "--duration=1h")
            flat = self.cluster.kubectl("config", "view", "--raw", "--minify", "--flatten", "-o", "json")
            ca_data = json.loads(flat.stdout)["clusters"][0]["cluster"]["certificate-authority-data"]
            host, _, port = self.cluster.server.removeprefix("https://").rpartition(":")
            cluster_ca = base64.b64decode(ca_data)
            self.proxy = ServiceProxy(
                (host, int(port)), self.service_ip or random_loopback(), cluster_ca, self.workdir
            )
            ca_cert = (
                b"\n".join(
                    c.rstrip(b"\n") for c in (cluster_ca, self.proxy.ca_cert, self.extra_ca_certs) if c
                )
                + b"\n"
            )
            self._node = Node(
                workdir=self.workdir,
                service_host=self.proxy.host,
                service_port=self.proxy.port,
                token=token.stdout.strip(),
                ca_cert=ca_cert,
                namespace=self.namespace,
                secret_data=self.secret_data,
            )
        return self._node

    def start(self) -> tuple[Container, str]:
        """The pod's container, started; and its `podman run` command line (for failure reports)."""
        number = len(self.containers) + 1
        node = dataclasses.replace(self.node(), workdir=self.workdir / f"pod-{number}")
        args = podman_run_args(self.deployment, node, name=f"ocids-{self.namespace}-{number}")
        container = Container.run(args)
        self.containers.append(container)
        return container, describe(args)

    def remove(self) -> None:
        for container in self.containers:
            container.remove()
        if self.proxy:
            self.proxy.close()
        for doc in self.docs:
            if doc["kind"] in ("ClusterRole", "ClusterRoleBinding"):
                self.cluster.kubectl(
                    "delete", doc["kind"].lower(), doc["metadata"]["name"], "--ignore-not-found", check=False
                )

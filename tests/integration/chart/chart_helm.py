"""Helm against the chart: offline rendering, and releases installed into a real API server."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from ocids_controlplane import Cluster, binaries

REPO = Path(__file__).resolve().parents[3]
CHART = REPO / "charts" / "ocids-operator"
INSTANCE = "app.kubernetes.io/instance"
# Every kind the chart can create: what an uninstall must leave behind none of.
NAMESPACED_KINDS = (
    "deployments",
    "services",
    "serviceaccounts",
    "roles",
    "rolebindings",
    "networkpolicies",
)
CLUSTER_KINDS = ("clusterroles", "clusterrolebindings")


def helm(tmp_path: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """helm with private homes and no cluster: for lint and template."""
    try:
        exe = str(binaries.binary("helm"))
    except binaries.MissingBinaryError as exc:
        pytest.fail(str(exc), pytrace=False)
    env = {f"HELM_{k}_HOME": str(tmp_path / "helm" / k.lower()) for k in ("CACHE", "CONFIG", "DATA")}
    env["PATH"] = "/usr/bin:/bin"
    result = subprocess.run([exe, *args], capture_output=True, text=True, env=env, timeout=120, check=False)
    if check and result.returncode != 0:
        raise AssertionError(f"helm {' '.join(args)} failed:\n{result.stderr}{result.stdout}")
    return result


def render(
    tmp_path: Path, *args: str, release: str = "ocids-operator", namespace: str = "ocids-system"
) -> list[Any]:
    out = helm(tmp_path, "template", release, str(CHART), "--namespace", namespace, *args).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def by_kind(docs: list[Any], kind: str) -> list[Any]:
    return [d for d in docs if d["kind"] == kind]


def env_of(deployment: Any) -> dict[str, str]:
    return {e["name"]: e.get("value") for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}


@dataclass
class Release:
    """One Helm release of the chart in a real cluster, driven with the admin kubeconfig."""

    cluster: Cluster
    name: str
    namespace: str
    chart: Path = CHART
    installed: bool = field(default=False, init=False)

    def _helm(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        # No --wait: without a kubelet the operator pod never becomes Ready.
        return self.cluster.helm(
            *args, "--namespace", self.namespace, "--kubeconfig", str(self.cluster.kubeconfig), check=check
        )

    def install(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = self._helm("install", self.name, str(self.chart), *args, check=check)
        self.installed = self.installed or result.returncode == 0
        return result

    def upgrade(self, *args: str, chart: Path | None = None) -> subprocess.CompletedProcess[str]:
        return self._helm("upgrade", self.name, str(chart or self.chart), *args)

    def uninstall(self) -> subprocess.CompletedProcess[str]:
        result = self._helm("uninstall", self.name)
        self.installed = False
        return result

    def ensure_uninstalled(self) -> None:
        """Teardown: the cluster-scoped objects would otherwise outlive the test's namespace."""
        if self.installed:
            self._helm("uninstall", self.name, "--ignore-not-found", check=False)

    def deployment(self) -> dict[str, Any]:
        (deploy,) = self.cluster.kubectl_json(
            "get", "deployments", "-n", self.namespace, "-l", f"{INSTANCE}={self.name}"
        )["items"]
        return dict(deploy)

    def objects(self, *namespaces: str) -> dict[str, list[str]]:
        """`kind -> names` of every object carrying this release's instance label."""
        found: dict[str, list[str]] = {}
        selector = f"{INSTANCE}={self.name}"
        for kind in NAMESPACED_KINDS:
            for ns in namespaces or (self.namespace,):
                items = self.cluster.kubectl_json("get", kind, "-n", ns, "-l", selector)["items"]
                found.setdefault(kind, []).extend(f"{ns}/{i['metadata']['name']}" for i in items)
        for kind in CLUSTER_KINDS:
            items = self.cluster.kubectl_json("get", kind, "-l", selector)["items"]
            found[kind] = [i["metadata"]["name"] for i in items]
        return {kind: sorted(names) for kind, names in found.items() if names}


def values_file(values: dict[str, Any], path: Path) -> Path:
    path.write_text(yaml.safe_dump(values))
    return path


def get_json(cluster: Cluster, *args: str) -> dict[str, Any] | None:
    """`kubectl get ... -o json`, or None when the object does not exist."""
    result = cluster.kubectl("get", *args, "-o", "json", check=False)
    if result.returncode != 0:
        if "NotFound" in result.stderr:
            return None
        raise AssertionError(result.stderr)
    return dict(json.loads(result.stdout))

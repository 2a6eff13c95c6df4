"""Client-side operations on a cluster, shared by the bundled control plane and an external one.

Tests talk to either through the same object: `.kubeconfig`, `.server`, `.kubectl(...)`,
`.helm(...)` and `.kubeconfig_for_service_account(...)`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

from . import binaries, kubeconfig


class CommandError(subprocess.CalledProcessError):
    """A failed kubectl/helm call; unlike CalledProcessError its message includes stderr."""

    def __str__(self) -> str:
        args = " ".join(str(a) for a in self.cmd)
        return f"`{args}` exited with {self.returncode}:\n{self.stderr or ''}{self.stdout or ''}".rstrip()


def _tool(name: str) -> str:
    """The bundled binary when built, else one on PATH (external clusters may lack the build)."""
    try:
        return str(binaries.binary(name))
    except binaries.MissingBinaryError:
        found = shutil.which(name)
        if found:
            return found
        raise


class Cluster:
    def __init__(self, kubeconfig_path: Path, workdir: Path) -> None:
        self.kubeconfig = Path(kubeconfig_path)
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(server={self.server!r}, kubeconfig={str(self.kubeconfig)!r})"

    def _current(self) -> tuple[dict[str, Any], dict[str, Any]]:
        doc = yaml.safe_load(self.kubeconfig.read_text())
        ctx_name = doc.get("current-context")
        ctx = next(c["context"] for c in doc["contexts"] if c["name"] == ctx_name)
        cluster = next(c["cluster"] for c in doc["clusters"] if c["name"] == ctx["cluster"])
        return doc, cluster

    @property
    def server(self) -> str:
        return str(self._current()[1]["server"])

    def env(self) -> dict[str, str]:
        """Environment for a client of this cluster: its kubeconfig, private kubectl/helm caches."""
        env = dict(os.environ)
        env["KUBECONFIG"] = str(self.kubeconfig)
        # Private discovery cache and helm homes: parallel workers must not share mutable state.
        env["KUBECACHEDIR"] = str(self.workdir / "kube-cache")
        for var in ("HELM_CACHE_HOME", "HELM_CONFIG_HOME", "HELM_DATA_HOME"):
            env[var] = str(self.workdir / "helm" / var.split("_")[1].lower())
        return env

    def _run(
        self, tool: str, args: tuple[str, ...], input: str | None, check: bool, timeout: float
    ) -> subprocess.CompletedProcess[str]:
        cmd = [_tool(tool), *args]
        result = subprocess.run(
            cmd, input=input, capture_output=True, text=True, env=self.env(), timeout=timeout, check=False
        )
        if check and result.returncode != 0:
            raise CommandError(result.returncode, cmd, result.stdout, result.stderr)
        return result

    def kubectl(
        self, *args: str, input: str | None = None, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """Run kubectl against this cluster; raises CommandError (with stderr) when `check` fails."""
        return self._run("kubectl", args, input, check, timeout)

    def kubectl_json(self, *args: str) -> Any:
        return json.loads(self.kubectl(*args, "-o", "json").stdout)

    def helm(
        self, *args: str, input: str | None = None, check: bool = True, timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        return self._run("helm", args, input, check, timeout)

    def _cluster_entry(self) -> dict[str, Any]:
        """The current cluster's entry with the CA embedded (whatever form the kubeconfig uses)."""
        flat = yaml.safe_load(self.kubectl("config", "view", "--minify", "--flatten", "--raw").stdout)
        entry = dict(flat["clusters"][0]["cluster"])
        entry.pop("server", None)
        return entry

    def kubeconfig_for_service_account(
        self, namespace: str, name: str, *, duration: str = "2h", audience: str | None = None
    ) -> Path:
        """A kubeconfig authenticating as ServiceAccount `namespace/name` via a bound token.

        Lets a test run the operator with exactly the permissions the chart's RBAC grants, instead of
        the admin identity.
        """
        args = ["create", "token", name, "-n", namespace, f"--duration={duration}"]
        if audience:
            args.append(f"--audience={audience}")
        token = self.kubectl(*args).stdout.strip()
        doc = kubeconfig.for_token(self.server, self._cluster_entry(), token, name=f"{namespace}-{name}")
        return kubeconfig.write(self.workdir / "service-accounts" / f"{namespace}.{name}.kubeconfig", doc)


class ExternalCluster(Cluster):
    """An existing cluster (kind, OKE, `make cluster-up`) reached through a kubeconfig; never stopped."""

    def stop(self) -> None:
        pass

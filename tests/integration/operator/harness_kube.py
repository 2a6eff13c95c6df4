"""kubectl against the test's API server, the way a user drives it, plus polling helpers."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from ocids_controlplane.waiting import wait_until

REPO_ROOT = Path(__file__).resolve().parents[3]
CRD_DIR = REPO_ROOT / "crds"
GROUP = "ocids.io"
VERSION = "v1alpha1"
JOBS = "trainingjobs"
RUNS = "trainingjobruns"
# kube-controller-manager's garbage collector picks up a new CRD on its discovery resync (every 30 s):
# in a fresh test cluster the first collection of TrainingJobRuns can take that long.
GC_TIMEOUT = 120.0

# Tenancy isolation: the compartments a namespace may use (the operator's core/tenancy.py).
ALLOWED_COMPARTMENTS = "ocids.io/allowed-compartments"


def wait_for(
    predicate: Callable[[], Any],
    timeout: float = 60,
    message: str | Callable[[], str] = "condition",
    interval: float = 0.3,
) -> Any:
    """`wait_until` for predicates that answer a falsy value (None, [], False) for "not yet"."""
    return wait_until(predicate, timeout=timeout, interval=interval, message=message)


@dataclass
class Kube:
    """kubectl with one kubeconfig: what a user types, so failures read like a user's terminal."""

    kubeconfig: Path
    kubectl_bin: str = "kubectl"
    # The cluster's client environment (private discovery cache per xdist worker).
    env: dict[str, str] | None = None

    def kubectl(
        self, *args: str, input: str | None = None, check: bool = True, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        cmd = [self.kubectl_bin, "--kubeconfig", str(self.kubeconfig), *args]
        proc = subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=timeout, env=self.env)
        if check and proc.returncode != 0:
            raise AssertionError(f"{' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()}")
        return proc

    def grant_compartments(self, namespace: str, *compartments: str) -> None:
        """As a cluster admin: let the namespace use these OCI compartments too (the operator's
        ocids.io/allowed-compartments annotation, added to what it already lists)."""
        proc = self.kubectl("get", "namespace", namespace, "-o", "json")
        annotations = json.loads(proc.stdout)["metadata"].get("annotations") or {}
        listed = [c for c in annotations.get(ALLOWED_COMPARTMENTS, "").split(",") if c]
        wanted = listed + [c for c in compartments if c not in listed]
        if wanted != listed:
            value = f"{ALLOWED_COMPARTMENTS}={','.join(wanted)}"
            self.kubectl("annotate", "namespace", namespace, value, "--overwrite")

    def apply(self, *manifests: dict[str, Any], check: bool = True) -> subprocess.CompletedProcess[str]:
        text = yaml.safe_dump_all(list(manifests))
        return self.kubectl("apply", "-f", "-", input=text, check=check)

    def get(self, kind: str, name: str, namespace: str) -> dict[str, Any] | None:
        proc = self.kubectl("get", kind, name, "-n", namespace, "-o", "json", check=False)
        if proc.returncode != 0:
            if "NotFound" in proc.stderr or "not found" in proc.stderr:
                return None
            raise AssertionError(f"get {kind}/{name}: {proc.stderr.strip()}")
        return dict(json.loads(proc.stdout))

    def list_objects(self, kind: str, namespace: str) -> list[dict[str, Any]]:
        proc = self.kubectl("get", kind, "-n", namespace, "-o", "json")
        return list(json.loads(proc.stdout)["items"])

    def patch(self, kind: str, name: str, namespace: str, patch: dict[str, Any]) -> None:
        self.kubectl("patch", kind, name, "-n", namespace, "--type", "merge", "-p", json.dumps(patch))

    def delete(self, kind: str, name: str, namespace: str, wait: bool = True, timeout: float = 60) -> None:
        self.kubectl(
            "delete",
            kind,
            name,
            "-n",
            namespace,
            f"--wait={str(wait).lower()}",
            f"--timeout={timeout:.0f}s",
            timeout=timeout + 10,
        )

    def events(self, namespace: str, name: str | None = None) -> list[dict[str, Any]]:
        args = ["get", "events", "-n", namespace, "-o", "json"]
        if name:
            args += ["--field-selector", f"involvedObject.name={name}"]
        return list(json.loads(self.kubectl(*args).stdout)["items"])

    def install_crds(self, timeout: float = 60) -> None:
        """Apply crds/ and wait until both CRDs are Established.

        Polled rather than `kubectl wait`: right after creation a CRD's status.conditions can be null,
        which kubectl 1.37's wait reports as an error instead of waiting.
        """
        self.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(CRD_DIR))

        def established() -> bool:
            crds = json.loads(
                self.kubectl("get", "crd", f"{JOBS}.{GROUP}", f"{RUNS}.{GROUP}", "-o", "json").stdout
            )["items"]
            return len(crds) == 2 and all(
                any(
                    c.get("type") == "Established" and c.get("status") == "True"
                    for c in (crd.get("status") or {}).get("conditions") or []
                )
                for crd in crds
            )

        wait_for(established, timeout=timeout, message="CRDs Established")

    def status(self, kind: str, name: str, namespace: str) -> dict[str, Any]:
        obj = self.get(kind, name, namespace) or {}
        return dict(obj.get("status") or {})

    def wait_phase(
        self, kind: str, name: str, namespace: str, phases: str | set[str], timeout: float = 90
    ) -> dict[str, Any]:
        """Wait until status.phase is one of `phases`; returns the object."""
        wanted = {phases} if isinstance(phases, str) else set(phases)
        seen: dict[str, Any] = {}

        def check() -> dict[str, Any] | None:
            obj = self.get(kind, name, namespace)
            seen["obj"] = obj
            if obj and (obj.get("status") or {}).get("phase") in wanted:
                return obj
            return None

        found: dict[str, Any] = wait_for(
            check,
            timeout=timeout,
            interval=0.3,
            message=lambda: (
                f"{kind}/{name} phase in {sorted(wanted)}; status={status_summary(seen.get('obj'))}"
            ),
        )
        return found

    def wait_condition(
        self, kind: str, name: str, namespace: str, condition: str, timeout: float = 90
    ) -> None:
        """`kubectl wait --for=condition=X`, the way a user (or a CI pipeline) waits for a run."""
        self.kubectl(
            "wait",
            f"--for=condition={condition}",
            f"{kind}/{name}",
            "-n",
            namespace,
            f"--timeout={timeout:.0f}s",
            timeout=timeout + 15,
        )


def status_summary(obj: dict[str, Any] | None) -> str:
    if obj is None:
        return "<absent>"
    return json.dumps(obj.get("status") or {}, sort_keys=True)[:1500]


def condition(obj: dict[str, Any] | None, type_: str) -> dict[str, Any] | None:
    for cond in ((obj or {}).get("status") or {}).get("conditions") or []:
        if cond.get("type") == type_:
            return dict(cond)
    return None

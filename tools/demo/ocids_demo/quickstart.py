"""examples/quickstart/ with this tenancy's OCIDs filled in, applied, and watched until done."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

from ocids_controlplane import Cluster, wait_until
from ocids_controlplane.waiting import WaitTimeout

from . import state
from .progress import Step
from .stack import DemoError

EXAMPLE = state.REPO / "examples" / "quickstart"
JOB = "logreg"
PLACEHOLDER = re.compile(r"\$\{([A-Z][A-Z0-9_]*)\}")
FINAL = {"Succeeded", "Failed", "Canceled", "Deleted", "NeedsAttention"}


def render(cluster: Cluster, ids: dict[str, str], out: Path) -> Path:
    """`kubectl kustomize` the example, then replace each ${NAME} with ids.env's NAME."""
    text = cluster.kubectl("kustomize", str(EXAMPLE)).stdout
    missing = sorted({m for m in PLACEHOLDER.findall(text) if m not in ids})
    if missing:
        raise DemoError(f"{EXAMPLE} uses {', '.join(missing)}, which the emulator's ids.env does not define")
    out.write_text(PLACEHOLDER.sub(lambda m: ids[m.group(1)], text))
    return out


def apply(cluster: Cluster, manifest: Path) -> list[str]:
    result = cluster.kubectl("apply", "-f", str(manifest), check=False)
    if result.returncode != 0:
        raise DemoError(f"kubectl apply -f {manifest} failed:\n{result.stderr.strip()}")
    return result.stdout.splitlines()


def objects(cluster: Cluster) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """The quickstart's TrainingJob and its runs (sorted by name) as the API server has them."""
    items = cluster.kubectl_json("get", "trainingjobs,trainingjobruns", "-n", state.NAMESPACE)["items"]
    job = next((i for i in items if i["kind"] == "TrainingJob" and i["metadata"]["name"] == JOB), None)
    runs = [i for i in items if i["kind"] == "TrainingJobRun" and i["spec"]["jobRef"]["name"] == JOB]
    return job, sorted(runs, key=lambda r: r["metadata"]["name"])


def condition(obj: dict[str, Any] | None, type_: str) -> dict[str, Any]:
    for cond in ((obj or {}).get("status") or {}).get("conditions") or []:
        if cond.get("type") == type_:
            return dict(cond)
    return {}


def phase(obj: dict[str, Any]) -> str:
    return str((obj.get("status") or {}).get("phase") or "Pending")


def wait_job_active(cluster: Cluster, step: Step, timeout: float = 120) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        job, _ = objects(cluster)
        step.update(f"{JOB}: {phase(job) if job else 'not found'}")
        if job and condition(job, "Stalled").get("status") == "True":
            raise DemoError(f"TrainingJob {JOB} is Stalled: {condition(job, 'Stalled').get('message')}")
        return job if job and phase(job) == "Active" else None

    try:
        return _wait(check, timeout, f"TrainingJob {JOB} to become Active")
    except WaitTimeout as exc:
        raise DemoError(f"{exc}\nsee the operator log") from None


def wait_runs_final(cluster: Cluster, step: Step, timeout: float = 300) -> list[dict[str, Any]]:
    def check() -> list[dict[str, Any]] | None:
        _, runs = objects(cluster)
        step.update(", ".join(f"{r['metadata']['name']}: {phase(r)}" for r in runs) or "no runs yet")
        return runs if runs and all(phase(r) in FINAL for r in runs) else None

    try:
        return _wait(check, timeout, "the TrainingJobRuns to finish")
    except WaitTimeout as exc:
        raise DemoError(str(exc)) from None


def _wait(check: Any, timeout: float, what: str) -> Any:
    """wait_until that lets a DemoError (a definite failure) through instead of retrying it."""
    failure: list[DemoError] = []

    def guarded() -> Any:
        try:
            return check()
        except DemoError as exc:
            failure.append(exc)
            return True

    result = wait_until(guarded, timeout=timeout, interval=0.5, message=what)
    if failure:
        raise failure[0]
    return result


def staleness(job: dict[str, Any] | None, runs: list[dict[str, Any]]) -> str | None:
    """Why the runs shown may not reflect the example as it is on disk now, if they may not.

    Finished runs are never re-run, and the operator reads a changed ConfigMap at its next resync,
    so after an edit of train.py `make demo` would otherwise show the old results without a word.
    """
    status = (job or {}).get("status") or {}
    on_disk = "sha256:" + hashlib.sha256((EXAMPLE / "train.py").read_bytes()).hexdigest()
    revision = status.get("revision")
    older = [r["metadata"]["name"] for r in runs if (r.get("status") or {}).get("jobRevision") != revision]
    if (status.get("artifact") or {}).get("digest") not in (None, on_disk) or older:
        return (
            "train.py or the TrainingJob changed since these runs ran (the operator makes a new revision"
            " at its next resync, within 30 s); finished runs are never re-run. To run them again:"
            f" kubectl delete tjr --all -n {state.NAMESPACE} && make demo"
        )
    return None

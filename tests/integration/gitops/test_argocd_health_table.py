"""The Argo CD health scripts on statuses the operator writes, next to kstatus on the same objects.

The live test covers what the operator produces end to end; these rows pin the edge cases (no status
yet, Canceled, NeedsAttention, Deleting, ...) and that the argocd-cm snippet carries the scripts verbatim.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from gitops_health import ARGOCD_DIR, SCRIPTS, argocd_health, kstatus
from ocids_operator.core import conditions as cond
from ocids_operator.core.phases import RunPhase
from ocids_operator.core.run_status import run_conditions

pytestmark = pytest.mark.integration
NOW = "2026-01-01T00:00:00Z"


def obj(kind: str, status: dict[str, Any] | None, generation: int = 1, **meta: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "apiVersion": "ocids.io/v1alpha1",
        "kind": kind,
        "metadata": {"name": "x", "namespace": "ml", "generation": generation, **meta},
    }
    if status is not None:
        doc["status"] = status
    return doc


def job(
    health: cond.Health, reason: str, message: str, phase: str, observed: int | None = 1
) -> dict[str, Any]:
    conditions = cond.with_health(None, health, reason, message, observed, NOW)
    return {"phase": phase, "observedGeneration": observed, "conditions": conditions}


def run(phase: str, message: str, exit_code: int | None = None) -> dict[str, Any]:
    status: dict[str, Any] = {
        "phase": phase,
        "observedGeneration": 1,
        "conditions": cond.merge_conditions(None, run_conditions(RunPhase(phase), message), 1, NOW),
    }
    if exit_code is not None:
        status["exitCode"] = exit_code
    return status


ROWS = [
    # (id, object, Argo CD status, Argo CD message, kstatus status)
    (
        "job-no-status",
        obj("TrainingJob", None),
        "Progressing",
        "Waiting for the operator to report status",
        "Current",
    ),
    (
        "job-creating",
        obj(
            "TrainingJob",
            job(cond.Health.PROGRESSING, "Created", "OCI job j revision 1 is CREATING", "Creating"),
        ),
        "Progressing",
        "OCI job j revision 1 is CREATING",
        "InProgress",
    ),
    (
        "job-active",
        obj("TrainingJob", job(cond.Health.READY, "Created", "OCI job j revision 1 is ACTIVE", "Active")),
        "Healthy",
        "OCI job j revision 1 is ACTIVE",
        "Current",
    ),
    (
        "job-edit-not-observed",
        obj("TrainingJob", job(cond.Health.READY, "Created", "ACTIVE", "Active"), generation=3),
        "Progressing",
        "Waiting for the operator to apply generation 3 (observed 1)",
        "InProgress",
    ),
    (
        "job-stalled",
        obj("TrainingJob", job(cond.Health.STALLED, "ArtifactNotFound", "bucket b does not exist", "Failed")),
        "Degraded",
        "ArtifactNotFound: bucket b does not exist",
        "Failed",
    ),
    (
        "job-retrying",
        obj("TrainingJob", job(cond.Health.PROGRESSING, "Throttled", "OCI said 429; retrying", "Pending")),
        "Progressing",
        "OCI said 429; retrying",
        "InProgress",
    ),
    (
        "job-deleting-retain",
        obj(
            "TrainingJob", job(cond.Health.PROGRESSING, "Deleting", "leaving OCI job j (Retain)", "Deleting")
        ),
        "Progressing",
        "leaving OCI job j (Retain)",
        "InProgress",
    ),
    (
        "run-no-status",
        obj("TrainingJobRun", None),
        "Progressing",
        "Waiting for the operator to report status",
        "Current",
    ),
    (
        "run-pending",
        obj("TrainingJobRun", run("Pending", "waiting for TrainingJob t (Creating) to be Active")),
        "Progressing",
        "Pending: waiting for TrainingJob t (Creating) to be Active",
        "InProgress",
    ),
    (
        "run-succeeded",
        obj("TrainingJobRun", run("Succeeded", "OCI job run r is SUCCEEDED", 0)),
        "Healthy",
        "Succeeded: OCI job run r is SUCCEEDED",
        "Current",
    ),
    (
        "run-failed",
        obj("TrainingJobRun", run("Failed", "OCI job run r is FAILED: exit code 3", 3)),
        "Degraded",
        "Failed (exit code 3): OCI job run r is FAILED: exit code 3",
        "Failed",
    ),
    (
        "run-canceled",
        obj("TrainingJobRun", run("Canceled", "OCI job run r is CANCELED")),
        "Degraded",
        "Canceled: OCI job run r is CANCELED",
        "Failed",
    ),
    (
        "run-needs-attention",
        obj("TrainingJobRun", run("NeedsAttention", "OCI job run r is NEEDS_ATTENTION")),
        "Degraded",
        "NeedsAttention: OCI job run r is NEEDS_ATTENTION",
        "Failed",
    ),
    (
        "run-canceling",
        obj("TrainingJobRun", run("Canceling", "OCI job run r is CANCELING")),
        "Progressing",
        "Canceling: OCI job run r is CANCELING",
        "InProgress",
    ),
]


@pytest.mark.parametrize(("case", "doc", "argo", "message", "flux"), ROWS, ids=[r[0] for r in ROWS])
def test_health_rows(case: str, doc: dict[str, Any], argo: str, message: str, flux: str) -> None:
    assert argocd_health(doc) == {"status": argo, "message": message}
    (computed,) = kstatus(doc)
    assert computed["status"] == flux, computed


def test_kstatus_calls_a_deleted_object_terminating_where_argo_cd_decides_itself() -> None:
    # Argo CD reports an object with a deletionTimestamp as Progressing before any script runs.
    doc = obj("TrainingJob", job(cond.Health.PROGRESSING, "Deleting", "deleting", "Deleting"))
    doc["metadata"]["deletionTimestamp"] = NOW
    assert kstatus(doc)[0]["status"] == "Terminating"
    assert argocd_health(doc)["status"] == "Progressing"


def test_argocd_cm_snippet_carries_each_script_verbatim() -> None:
    config_map = yaml.safe_load((ARGOCD_DIR / "argocd-cm.yaml").read_text())
    assert config_map["metadata"]["name"] == "argocd-cm"
    data = config_map["data"]
    assert sorted(data) == sorted(f"resource.customizations.health.ocids.io_{kind}" for kind in SCRIPTS)
    for kind, name in SCRIPTS.items():
        script = data[f"resource.customizations.health.ocids.io_{kind}"]
        assert script == (ARGOCD_DIR / name).read_text()
        # What Argo CD runs is the ConfigMap's copy: it must judge like the file does.
        failed = obj(kind, job(cond.Health.STALLED, "Failed", "boom", "Failed"))
        assert argocd_health(failed, script)["status"] == "Degraded"

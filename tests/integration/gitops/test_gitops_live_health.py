"""Flux (kstatus) and Argo CD (the Lua health scripts) read live objects the real operator drives.

Each check takes one snapshot from the API server and asks both, and also lets the kstatus checker
read the object from the API server itself, so all three judge what a GitOps controller would see.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import operator_scripts as scripts
import pytest
from gitops_health import argocd_health, kstatus, kstatus_live
from operator_harness import JOBS, RUNS, Scenario, condition, wait_for

pytestmark = pytest.mark.integration
SWEEPS, SCHEDULES = "trainingjobsweeps", "trainingjobschedules"


def judge(e2e: Scenario, cluster: Any, kind: str, name: str) -> tuple[dict[str, Any], dict[str, str]]:
    """(kstatus result, Argo CD hs) of one snapshot; the live kstatus read must agree on the status."""
    obj = e2e.kube.get(kind, name, e2e.namespace)
    assert obj is not None, f"{kind}/{name} is gone"
    (flux,) = kstatus(obj)
    (live,) = kstatus_live(cluster.kubeconfig, f"{kind}/{e2e.namespace}/{name}")
    assert live["status"] == flux["status"], (live, flux, obj.get("status"))
    return flux, argocd_health(obj)


def test_job_ready_run_in_progress_then_succeeded_and_an_unobserved_edit(
    e2e: Scenario, cluster: Any, tmp_path: Path
) -> None:
    e2e.apply(e2e.job("gated", scripts.GATED))
    job = e2e.wait_job_active("gated")
    flux, argo = judge(e2e, cluster, JOBS, "gated")
    assert flux["status"] == "Current", flux
    assert argo == {"status": "Healthy", "message": f"OCI job {job['status']['jobId']} revision 1 is ACTIVE"}

    release = tmp_path / "release"
    e2e.apply(e2e.run("gated-1", "gated", env={"RELEASE_FILE": str(release)}))
    e2e.wait_run("gated-1", "InProgress")
    flux, argo = judge(e2e, cluster, RUNS, "gated-1")
    assert flux["status"] == "InProgress", flux
    assert argo["status"] == "Progressing", argo
    assert argo["message"].startswith("InProgress: OCI job run ocid1.datasciencejobrun."), argo

    release.touch()
    run = e2e.wait_run("gated-1", "Succeeded")
    flux, argo = judge(e2e, cluster, RUNS, "gated-1")
    assert flux["status"] == "Current", flux
    ready = condition(run, "Ready") or {}
    assert ready["message"].startswith(f"OCI job run {run['status']['jobRunId']} is SUCCEEDED"), ready
    assert argo == {"status": "Healthy", "message": f"Succeeded: {ready['message']}"}

    # An edit the operator has not seen yet: Flux and Argo CD must wait, not report the old Ready.
    assert e2e.operator is not None
    e2e.operator.stop()
    e2e.kube.patch(JOBS, "gated", e2e.namespace, {"spec": {"infrastructure": {"ocpus": 2}}})
    edited = e2e.get_job("gated")
    assert edited is not None and edited["metadata"]["generation"] == 2
    assert (condition(edited, "Ready") or {}).get("status") == "True"  # still the old generation's
    flux, argo = judge(e2e, cluster, JOBS, "gated")
    assert flux == {**flux, "status": "InProgress"}
    assert flux["message"] == "TrainingJob generation is 2, but latest observed generation is 1", flux
    assert argo == {
        "status": "Progressing",
        "message": "Waiting for the operator to apply generation 2 (observed 1)",
    }


def test_failed_run_and_stalled_job_are_failed_and_degraded(
    e2e: Scenario, cluster: Any, emulator: Any
) -> None:
    e2e.apply(e2e.job("failing", scripts.FAIL))
    e2e.wait_job_active("failing")
    e2e.apply(e2e.run("failing-1", "failing", env={"EXIT_CODE": "7"}))
    run = e2e.wait_run("failing-1", "Failed")
    assert run["status"]["exitCode"] == 7, run["status"]
    flux, argo = judge(e2e, cluster, RUNS, "failing-1")
    stalled = condition(run, "Stalled") or {}
    # A failed run never runs again: for GitOps it is a failure to act on, with OCI's own words.
    assert flux == {**flux, "status": "Failed", "message": stalled["message"]}, (flux, stalled)
    assert "exit code 7" in stalled["message"].lower(), stalled
    assert argo == {"status": "Degraded", "message": f"Failed (exit code 7): {stalled['message']}"}

    bucket_url = f"oci://no-such-bucket@{emulator.ids['OBJECT_STORAGE_NAMESPACE']}/train.zip"
    job = e2e.job("stalled", "unused", entrypoint="main.py")
    job["spec"]["artifact"] = {"url": bucket_url}
    e2e.apply(job)

    def stall() -> dict[str, Any] | None:
        found = condition(e2e.get_job("stalled"), "Stalled")
        return found if found and found.get("status") == "True" else None

    reason = wait_for(stall, timeout=60, message="Stalled for the missing bucket")
    flux, argo = judge(e2e, cluster, JOBS, "stalled")
    assert flux == {**flux, "status": "Failed", "message": reason["message"]}, flux
    assert argo == {"status": "Degraded", "message": f"{reason['reason']}: {reason['message']}"}
    assert bucket_url in argo["message"], argo


def test_retry_backoff_cancel_sweep_and_schedule_read_the_same_in_flux_and_argo_cd(
    e2e: Scenario, cluster: Any
) -> None:
    simulated = {"OCIDS_EMULATOR_SIMULATE": "1:0"}
    e2e.apply(e2e.job("quick", "print('simulated')\n", env=simulated, logging={"enabled": False}))
    # A failed attempt waiting for its retry is still in progress, not a failure.
    policy = {
        "maxRetries": 1,
        "backoff": {"initialSeconds": 600, "maxSeconds": 600},
        "retryOn": {"exitCodes": [3]},
    }
    e2e.apply(e2e.run("retried", "quick", env={"OCIDS_EMULATOR_SIMULATE": "1:3"}, retryPolicy=policy))
    wait_for(
        lambda: ((e2e.kube.get(RUNS, "retried", e2e.namespace) or {}).get("status") or {}).get(
            "nextAttemptAt"
        ),
        timeout=60,
        message="a retry waiting",
    )
    flux, argo = judge(e2e, cluster, RUNS, "retried")
    assert flux["status"] == "InProgress" and argo["status"] == "Progressing", (flux, argo)
    assert argo["message"].startswith("Pending: attempt 1 (OCI job run "), argo
    # Canceled by spec.cancel (a spec edit, generation 2): final, a failure for GitOps.
    e2e.kube.patch(RUNS, "retried", e2e.namespace, {"spec": {"cancel": True}})
    run = e2e.wait_run("retried", "Canceled", timeout=60)
    assert run["status"]["observedGeneration"] == run["metadata"]["generation"] == 2, run["status"]
    flux, argo = judge(e2e, cluster, RUNS, "retried")
    assert flux["status"] == "Failed" and argo["status"] == "Degraded", (flux, argo)

    e2e.apply(
        {
            "apiVersion": "ocids.io/v1alpha1",
            "kind": "TrainingJobSweep",
            "metadata": {"name": "tiny", "namespace": e2e.namespace},
            "spec": {"jobRef": {"name": "quick"}, "parameters": [{"name": "p", "env": "P", "values": ["1"]}]},
        }
    )
    e2e.kube.wait_phase(SWEEPS, "tiny", e2e.namespace, "Succeeded", timeout=90)
    flux, argo = judge(e2e, cluster, SWEEPS, "tiny")
    assert flux["status"] == "Current" and argo["status"] == "Healthy", (flux, argo)
    assert argo["message"].startswith("Succeeded: all 1 trials finished"), argo

    def schedule(name: str, cron: str, suspend: bool) -> dict[str, Any]:
        return {
            "apiVersion": "ocids.io/v1alpha1",
            "kind": "TrainingJobSchedule",
            "metadata": {"name": name, "namespace": e2e.namespace},
            "spec": {"jobRef": {"name": "quick"}, "schedule": cron, "suspend": suspend},
        }

    e2e.apply(schedule("paused", "@daily", True), schedule("broken", "61 * * * *", False))
    e2e.kube.wait_phase(SCHEDULES, "paused", e2e.namespace, "Suspended", timeout=60)
    flux, argo = judge(e2e, cluster, SCHEDULES, "paused")
    assert flux["status"] == "Current" and argo["status"] == "Suspended", (flux, argo)
    e2e.kube.patch(SCHEDULES, "paused", e2e.namespace, {"spec": {"suspend": False}})
    e2e.kube.wait_phase(SCHEDULES, "paused", e2e.namespace, "Active", timeout=60)
    flux, argo = judge(e2e, cluster, SCHEDULES, "paused")
    assert flux["status"] == "Current" and argo["status"] == "Healthy", (flux, argo)
    assert argo["message"].startswith("Active: next run at "), argo
    e2e.kube.wait_phase(SCHEDULES, "broken", e2e.namespace, "Failed", timeout=60)
    flux, argo = judge(e2e, cluster, SCHEDULES, "broken")
    assert flux["status"] == "Failed" and argo["status"] == "Degraded", (flux, argo)
    assert argo["message"].startswith("InvalidSchedule: spec.schedule '61 * * * *'"), argo

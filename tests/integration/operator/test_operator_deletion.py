"""Deleting Kubernetes objects: what happens in OCI follows deletionPolicy."""

from __future__ import annotations

import operator_scripts as scripts
import pytest
from operator_harness import GC_TIMEOUT, JOBS, RUNS, Scenario, wait_for

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("policy", ["Delete", "Retain"])
def test_deleting_a_running_run_cancels_it_in_oci_unless_retained(e2e: Scenario, policy: str) -> None:
    e2e.apply(e2e.job("long", scripts.GATED))
    e2e.wait_job_active("long")
    # Released only at the end: until then only a cancel ends it (or its own 90 s timeout).
    release = e2e.release_file("long-1")
    e2e.apply(e2e.run("long-1", "long", env={"RELEASE_FILE": str(release)}, deletion_policy=policy))
    run_id = e2e.wait_run("long-1", "InProgress")["status"]["jobRunId"]
    assert run_id in e2e.wait_event("long-1", "InProgress")["message"]

    e2e.kube.delete(RUNS, "long-1", e2e.namespace, timeout=60)
    assert e2e.get_run("long-1") is None
    try:
        if policy == "Delete":
            wait_for(
                lambda: (
                    (r := e2e.oci.get_job_run(run_id)) is None or r.lifecycle_state in ("CANCELED", "DELETED")
                ),
                timeout=60,
                message="OCI run canceled or deleted",
            )
        else:
            oci_run = e2e.oci.get_job_run(run_id)
            assert oci_run is not None and oci_run.lifecycle_state == "IN_PROGRESS", oci_run
    finally:
        release.touch()


@pytest.mark.parametrize("policy", ["Delete", "Retain"])
def test_deleting_a_training_job_removes_runs_and_follows_deletion_policy(e2e: Scenario, policy: str) -> None:
    e2e.apply(e2e.job("gone", scripts.TRAIN, env={"EPOCHS": "1"}, deletion_policy=policy))
    job_id = e2e.wait_job_active("gone")["status"]["jobId"]
    e2e.apply(e2e.run("gone-1", "gone"))
    run = e2e.wait_run("gone-1", "Succeeded")
    owners = run["metadata"].get("ownerReferences") or []
    assert any(o.get("kind") == "TrainingJob" and o.get("name") == "gone" for o in owners), owners

    e2e.kube.delete(JOBS, "gone", e2e.namespace, timeout=60)
    assert e2e.get_job("gone") is None
    # Runs are owned by their TrainingJob: garbage collection removes them.
    wait_for(
        lambda: e2e.get_run("gone-1") is None, timeout=GC_TIMEOUT, message="owned TrainingJobRun collected"
    )

    if policy == "Delete":
        wait_for(
            lambda: (j := e2e.oci.get_job(job_id)) is None or j.lifecycle_state in ("DELETED", "DELETING"),
            timeout=60,
            message="OCI job deleted",
        )
    else:
        oci_job = e2e.oci.get_job(job_id)
        assert oci_job is not None and oci_job.lifecycle_state == "ACTIVE"


def test_deleting_a_training_job_with_a_run_in_flight_cleans_up_everything(e2e: Scenario) -> None:
    e2e.apply(e2e.job("busy", scripts.GATED))
    job_id = e2e.wait_job_active("busy")["status"]["jobId"]
    release = e2e.release_file("busy-1")
    e2e.apply(e2e.run("busy-1", "busy", env={"RELEASE_FILE": str(release)}))
    run_id = e2e.wait_run("busy-1", "InProgress")["status"]["jobRunId"]
    try:
        # OCI refuses to delete a job with an active run: the operator must get past that.
        e2e.kube.delete(JOBS, "busy", e2e.namespace, timeout=90)
        wait_for(lambda: e2e.get_run("busy-1") is None, timeout=GC_TIMEOUT, message="owned run collected")
        wait_for(
            lambda: (j := e2e.oci.get_job(job_id)) is None or j.lifecycle_state in ("DELETED", "DELETING"),
            timeout=60,
            message="OCI job deleted",
        )
        oci_run = e2e.oci.get_job_run(run_id)
        assert oci_run is None or oci_run.lifecycle_state in ("CANCELED", "DELETED"), oci_run
    finally:
        release.touch()

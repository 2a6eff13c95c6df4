"""Retired revisions drain without an edit: once the last run that kept an earlier revision's OCI job
goes (a history limit, a TTL, a user), the resync timer deletes that job, and status.retiredJobCount
goes 1 -> 0, even while the TrainingJob waits on an edit it cannot apply yet."""

from __future__ import annotations

import operator_scripts as scripts
import pytest
from operator_harness import JOBS, RUNS, Scenario, wait_for

pytestmark = pytest.mark.integration


def test_an_old_revisions_job_is_deleted_once_its_last_run_goes_with_no_edit(e2e: Scenario) -> None:
    e2e.apply(e2e.job("drain", scripts.TRAIN, env={"STAGE": "a"}))
    old_job_id = e2e.wait_job_active("drain")["status"]["jobId"]
    e2e.apply(e2e.run("r1", "drain"))
    assert e2e.wait_run("r1", {"Succeeded", "Failed"})["status"]["phase"] == "Succeeded"

    e2e.kube.patch(JOBS, "drain", e2e.namespace, {"spec": {"env": [{"name": "STAGE", "value": "b"}]}})
    job = e2e.wait_job_status(
        "drain",
        lambda s: s.get("revision") == 2 and s.get("phase") == "Active" and s.get("retiredJobCount") == 1,
        "revision 2 Active, the old job kept for r1",
    )
    new_job_id = job["status"]["jobId"]
    assert job["status"]["retiredJobIds"] == [old_job_id]
    assert e2e.oci.get_job(old_job_id).lifecycle_state == "ACTIVE"  # r1's OCI run lives in it

    # An edit the operator cannot apply yet (its Secret does not exist): the TrainingJob waits for
    # it, retrying, and is not reconciled by the resync timer meanwhile.
    missing = {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "not-there", "key": "token"}}}
    env = [{"name": "STAGE", "value": "c"}, missing]
    e2e.kube.patch(JOBS, "drain", e2e.namespace, {"spec": {"env": env}})
    e2e.wait_job_status(
        "drain",
        lambda s: any(c.get("reason") == "EnvReferenceMissing" for c in s.get("conditions") or []),
        "waiting for the missing Secret",
    )

    # r1 goes (and its OCI run with it, deletionPolicy Delete); nothing edits the TrainingJob after.
    e2e.kube.delete(RUNS, "r1", e2e.namespace, timeout=60)
    wait_for(
        lambda: (j := e2e.oci.get_job(old_job_id)) is None or j.lifecycle_state in ("DELETED", "DELETING"),
        timeout=60,
        message="the retired OCI job deleted",
    )
    job = e2e.wait_job_status(
        "drain",
        lambda s: s.get("retiredJobCount") == 0 and s.get("retiredJobIds") == [],
        "retiredJobCount 0",
    )
    e2e.wait_event("drain", "RetiredJobDeleted")
    # The current job is untouched, and the status still says what the TrainingJob waits for.
    status = job["status"]
    assert (status["jobId"], status["revision"]) == (new_job_id, 2)
    assert e2e.oci.get_job(new_job_id).lifecycle_state == "ACTIVE"
    assert any(c.get("reason") == "EnvReferenceMissing" for c in status["conditions"]), status

"""A deletion lets its object go only once OCI proves the job (or run) gone.

OCI answers an IAM denial with the same 404 NotAuthorizedOrNotFound as a missing resource, and a
removed policy denies the read along with the delete: a finalizer that took those 404s for "gone"
would orphan a job in OCI, still billing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from operator_harness import JOBS, RUNS, OperatorProcess, Scenario, condition, wait_for

pytestmark = pytest.mark.integration


@pytest.fixture
def world_faults_cleared(world: Scenario) -> Iterator[Scenario]:
    try:
        yield world
    finally:
        world.admin.clear_faults()  # the emulator is shared by the session's tests


def list_jobs_calls(world: Scenario) -> int:
    return int(world.admin.stats()["operations"].get("list_jobs", {}).get("total", 0))


def deletion_blocked(status: dict[str, Any]) -> bool:
    return any(
        c.get("reason") == "DeletionBlocked" and c["status"] == "True" for c in status.get("conditions") or []
    )


@pytest.mark.parametrize("list_denied", [False, True], ids=["list-allowed", "list-denied"])
def test_a_job_whose_read_and_delete_iam_denies_keeps_its_finalizer_until_allowed(
    world_faults_cleared: Scenario, start_operator: Callable[..., OperatorProcess], list_denied: bool
) -> None:
    world = world_faults_cleared
    start_operator(env={"OCIDS_RETRY_MAX_SECONDS": "5"})
    world.apply(world.job("denied", "print('hi')\n"))
    job_id = world.wait_job_active("denied")["status"]["jobId"]
    # A policy removed: GetJob and DeleteJob answer 404, as for a job that is gone.
    world.admin.deny("delete_job", "get_job", resource_ids=[job_id], count=None)
    if list_denied:
        world.admin.deny("list_jobs", count=None)

    lists_before = list_jobs_calls(world)
    world.kube.delete(JOBS, "denied", world.namespace, wait=False)
    blocked = world.wait_job_status("denied", deletion_blocked, "deletion blocked in status")
    assert "NotAuthorizedOrNotFound" in blocked["status"]["message"]
    assert "ocids.io/finalizer" in blocked["metadata"]["finalizers"]
    assert "NotAuthorizedOrNotFound" in world.wait_event("denied", "DeletionBlocked")["message"]
    wait_for(
        lambda: list_jobs_calls(world) >= lists_before + 2,  # each attempt lists first
        timeout=60,
        message="the deletion retried",
    )
    assert world.get_job("denied") is not None, "the finalizer holds while OCI refuses"
    world.admin.clear_faults()
    assert world.oci.get_job(job_id).lifecycle_state == "ACTIVE", "not deleted, not orphaned either"

    wait_for(lambda: world.get_job("denied") is None, timeout=90, message="TrainingJob deleted once allowed")
    oci_job = world.oci.get_job(job_id)
    assert oci_job is None or oci_job.lifecycle_state in ("DELETED", "DELETING")


@pytest.mark.parametrize("list_denied", [False, True], ids=["list-allowed", "list-denied"])
def test_a_run_whose_read_and_delete_iam_denies_keeps_its_finalizer_until_allowed(
    world_faults_cleared: Scenario, start_operator: Callable[..., OperatorProcess], list_denied: bool
) -> None:
    world = world_faults_cleared
    start_operator(env={"OCIDS_RETRY_MAX_SECONDS": "5"})
    world.apply(world.job("keep", "print('done')\n"))
    world.wait_job_active("keep")
    world.apply(world.run("keep-1", "keep"))
    run_id = world.wait_run("keep-1", "Succeeded")["status"]["jobRunId"]
    world.admin.deny("delete_job_run", "get_job_run", resource_ids=[run_id], count=None)
    if list_denied:
        world.admin.deny("list_job_runs", count=None)

    world.kube.delete(RUNS, "keep-1", world.namespace, wait=False)
    event = world.wait_event("keep-1", "DeletionBlocked", timeout=60)
    assert "NotAuthorizedOrNotFound" in event["message"]
    blocked = world.get_run("keep-1")
    assert blocked is not None, "the finalizer holds while OCI refuses"
    assert condition(blocked, "Stalled")["reason"] == "DeletionBlocked"
    world.admin.clear_faults()
    assert world.oci.get_job_run(run_id).lifecycle_state == "SUCCEEDED"

    wait_for(lambda: world.get_run("keep-1") is None, timeout=90, message="deleted once allowed")
    oci_run = world.oci.get_job_run(run_id)
    assert oci_run is None or oci_run.lifecycle_state == "DELETED"


def test_a_job_deleted_in_the_console_lets_its_training_job_go_at_once(e2e: Scenario) -> None:
    e2e.apply(e2e.job("console", "print('hi')\n"))
    job_id = e2e.wait_job_active("console")["status"]["jobId"]
    e2e.oci.ds.delete_job(job_id, delete_related_job_runs=True)  # someone, in the console
    wait_for(
        lambda: (job := e2e.oci.get_job(job_id)) is None or job.lifecycle_state == "DELETED",
        timeout=60,
        message="the OCI job deleted",
    )

    e2e.kube.delete(JOBS, "console", e2e.namespace, wait=False)
    wait_for(lambda: e2e.get_job("console") is None, timeout=30, message="TrainingJob let go")
    assert not any(e.get("reason") == "DeletionBlocked" for e in e2e.kube.events(e2e.namespace))

"""Deletion never lets a running OCI run go unstopped, never waits forever, and never takes a run
someone asked to keep (issue 14, defects A, C, D and E)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import operator_scripts as scripts
import pytest
from operator_harness import GC_TIMEOUT, JOBS, RUNS, OperatorProcess, Scenario, condition, wait_for

pytestmark = pytest.mark.integration
CANCEL_BOUND = "4"  # OCIDS_RUN_CANCEL_TIMEOUT_SECONDS for these tests
FAST = {"OCIDS_RUN_CANCEL_TIMEOUT_SECONDS": CANCEL_BOUND, "OCIDS_RETRY_MAX_SECONDS": "5"}


@pytest.fixture
def world_faults_cleared(world: Scenario) -> Iterator[Scenario]:
    try:
        yield world
    finally:
        world.admin.clear_faults()  # the emulator is shared by the session's tests


def oci_state(world: Scenario, run_id: str) -> str | None:
    run = world.oci.get_job_run(run_id)
    return None if run is None else str(run.lifecycle_state)


def calls(world: Scenario, operation: str) -> int:
    return int(world.admin.stats()["operations"].get(operation, {}).get("total", 0))


def running_gated(world: Scenario, job: str, run: str, **kwargs: Any) -> tuple[str, Any]:
    """A run that trains until its release file appears (or 5 minutes); returns its OCI id and that file."""
    release = world.release_file(run)
    env = {"RELEASE_FILE": str(release), "GATE_TIMEOUT": "300", "MARKER": run}
    world.apply(world.run(run, job, env=env, **kwargs))
    run_id = world.wait_run(run, "InProgress")["status"]["jobRunId"]
    return run_id, release


# A -----------------------------------------------------------------------------------------------
def test_a_run_deleted_while_the_operator_was_down_past_the_bound_is_canceled_when_it_returns(
    world: Scenario, start_operator: Callable[..., OperatorProcess]
) -> None:
    op = start_operator(env=FAST)
    world.apply(world.job("away", scripts.GATED))
    world.wait_job_active("away")
    run_id, release = running_gated(world, "away", "away-1")
    try:
        op.stop()
        world.kube.delete(RUNS, "away-1", world.namespace, wait=False)
        # The point of the test: the operator stays away longer than the cancel bound.
        time.sleep(float(CANCEL_BOUND) + 2)
        assert oci_state(world, run_id) == "IN_PROGRESS"
        cancels = calls(world, "cancel_job_run")

        start_operator(env=FAST)
        wait_for(lambda: world.get_run("away-1") is None, timeout=60, message="the TrainingJobRun let go")
        assert calls(world, "cancel_job_run") > cancels, "CancelJobRun was sent before the object went"
        assert oci_state(world, run_id) in (None, "CANCELING", "CANCELED", "DELETED"), "not left running"
    finally:
        release.touch()


# C -----------------------------------------------------------------------------------------------
def test_a_training_job_deletion_lets_go_of_a_run_stuck_canceling_and_names_it(
    world_faults_cleared: Scenario, start_operator: Callable[..., OperatorProcess]
) -> None:
    world = world_faults_cleared
    start_operator(env=FAST)
    world.apply(world.job("stuck", scripts.GATED))
    job_id = world.wait_job_active("stuck")["status"]["jobId"]
    run_id, release = running_gated(world, "stuck", "stuck-1")
    world.admin.hold_canceling(run_id)  # OCI never finishes canceling it
    try:
        world.kube.delete(JOBS, "stuck", world.namespace, wait=False)
        wait_for(lambda: world.get_job("stuck") is None, timeout=90, message="the TrainingJob let go")
        left = world.wait_event("stuck", "RunLeftInOCI")
        assert left["type"] == "Warning" and run_id in left["message"] and job_id in left["message"]
        assert oci_state(world, run_id) == "CANCELING"
        job = world.oci.get_job(job_id)
        assert job is not None and job.lifecycle_state == "ACTIVE", (
            "kept: OCI refuses it while a run is active"
        )
    finally:
        world.admin.release_canceling()
        release.touch()


# D -----------------------------------------------------------------------------------------------
def test_a_run_whose_cancel_iam_denies_blocks_its_deletion_until_allowed(
    world_faults_cleared: Scenario, start_operator: Callable[..., OperatorProcess]
) -> None:
    world = world_faults_cleared
    start_operator(env=FAST)
    world.apply(world.job("nocancel", scripts.GATED))
    world.wait_job_active("nocancel")
    run_id, release = running_gated(world, "nocancel", "nocancel-1")
    # A policy that lets the operator read the run but not cancel it: CancelJobRun answers 404.
    world.admin.deny("cancel_job_run", resource_ids=[run_id], count=None)
    try:
        world.kube.delete(RUNS, "nocancel-1", world.namespace, wait=False)
        event = world.wait_event("nocancel-1", "DeletionBlocked", timeout=60)
        assert "NotAuthorizedOrNotFound" in event["message"]
        blocked = world.get_run("nocancel-1")
        assert blocked is not None, "the finalizer holds while OCI refuses the cancel"
        assert condition(blocked, "Stalled")["reason"] == "DeletionBlocked"
        assert oci_state(world, run_id) == "IN_PROGRESS"

        world.admin.clear_faults()
        wait_for(lambda: world.get_run("nocancel-1") is None, timeout=90, message="deleted once allowed")
        assert oci_state(world, run_id) in (None, "CANCELED", "DELETED")
    finally:
        release.touch()


def test_a_training_job_whose_runs_cancel_iam_denies_is_blocked_not_deleted_with_them(
    world_faults_cleared: Scenario, start_operator: Callable[..., OperatorProcess]
) -> None:
    world = world_faults_cleared
    start_operator(env=FAST)
    world.apply(world.job("jobnocancel", scripts.GATED))
    job_id = world.wait_job_active("jobnocancel")["status"]["jobId"]
    run_id, release = running_gated(world, "jobnocancel", "jobnocancel-1")
    world.admin.deny("cancel_job_run", resource_ids=[run_id], count=None)
    try:
        world.kube.delete(JOBS, "jobnocancel", world.namespace, wait=False)
        event = world.wait_event("jobnocancel", "DeletionBlocked", timeout=60)
        assert "NotAuthorizedOrNotFound" in event["message"]
        assert world.get_job("jobnocancel") is not None
        assert oci_state(world, run_id) == "IN_PROGRESS"
        assert world.oci.get_job(job_id).lifecycle_state == "ACTIVE"

        world.admin.clear_faults()
        wait_for(lambda: world.get_job("jobnocancel") is None, timeout=90, message="deleted once allowed")
        assert oci_state(world, run_id) in (None, "CANCELED", "DELETED")
    finally:
        release.touch()


# E -----------------------------------------------------------------------------------------------
def test_a_retained_run_keeps_training_through_its_training_jobs_deletion(
    world: Scenario, start_operator: Callable[..., OperatorProcess]
) -> None:
    start_operator(env=FAST)
    world.apply(world.job("shared", scripts.GATED, deletion_policy="Delete"))
    job_id = world.wait_job_active("shared")["status"]["jobId"]
    keep_id, keep_release = running_gated(world, "shared", "keep", deletion_policy="Retain")
    drop_id, drop_release = running_gated(world, "shared", "drop")
    try:
        world.kube.delete(JOBS, "shared", world.namespace, wait=False)
        wait_for(lambda: world.get_job("shared") is None, timeout=90, message="the TrainingJob let go")
        for name in ("keep", "drop"):
            wait_for(lambda n=name: world.get_run(n) is None, timeout=GC_TIMEOUT, message=f"{name} collected")

        assert oci_state(world, keep_id) == "IN_PROGRESS", "the Retain run was neither canceled nor deleted"
        assert oci_state(world, drop_id) in (None, "CANCELED", "DELETED")
        job = world.oci.get_job(job_id)
        assert job is not None and job.lifecycle_state == "ACTIVE", "its job is kept while it holds the run"
        kept = world.wait_event("shared", "JobKept")
        assert job_id in kept["message"] and keep_id in kept["message"]

        keep_release.touch()
        wait_for(
            lambda: oci_state(world, keep_id) == "SUCCEEDED", timeout=60, message="the kept run finishes"
        )
    finally:
        keep_release.touch()
        drop_release.touch()


# B -----------------------------------------------------------------------------------------------
def test_a_run_waiting_for_its_secret_is_not_recorded_as_attempted_and_runs_once_it_appears(
    e2e: Scenario,
) -> None:
    e2e.apply(e2e.job("needs-secret", scripts.SECRET_DIGEST))
    e2e.wait_job_active("needs-secret")
    secret_env = [
        {"name": "API_TOKEN", "valueFrom": {"secretKeyRef": {"name": "late-token", "key": "token"}}}
    ]
    run_manifest = e2e.run("needs-secret-1", "needs-secret")
    run_manifest["spec"]["env"] = secret_env
    e2e.apply(run_manifest)

    def waiting() -> dict[str, Any] | None:
        obj = e2e.get_run("needs-secret-1")
        status = (obj or {}).get("status") or {}
        named = status.get("phase") == "Pending" and "late-token" in (status.get("message") or "")
        return obj if named else None

    run = wait_for(waiting, timeout=60, message="the run waits, naming the Secret")
    assert "createAttemptedAt" not in run["status"], "nothing was sent to OCI"
    assert not e2e.oci_runs(), "no OCI run"

    e2e.kube.kubectl(
        "create", "secret", "generic", "late-token", "-n", e2e.namespace, "--from-literal=token=t0ken"
    )
    done = e2e.wait_run("needs-secret-1", "Succeeded", timeout=120)
    assert done["status"]["createAttemptedAt"] and done["status"]["jobRunId"]

"""Retries that cannot go on, and what a retry runs: a retry whose create is refused for good ends
the run (nothing stays pending), deleting the TrainingJob keeps every attempt's run of a Retain
TrainingJobRun, and a retry after a new TrainingJob revision re-runs its first attempt's job."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import operator_scripts as scripts
import pytest
from operator_harness import JOBS, RUNS, OperatorProcess, Scenario, wait_for
from test_operator_retries import FLAKY

pytestmark = pytest.mark.integration


def _pending_retry(e2e: Scenario, name: str) -> dict[str, Any]:
    def pending() -> dict[str, Any] | None:
        status = (e2e.get_run(name) or {}).get("status") or {}
        return status if status.get("nextAttemptAt") else None

    return wait_for(pending, timeout=90, message=f"{name}: a retry pending")


def test_a_retry_refused_for_good_ends_the_run(e2e: Scenario) -> None:
    marker = e2e.work_dir / "refused-marker"
    e2e.apply(e2e.job("reshaped", FLAKY, env={"MARKER_FILE": str(marker)}))
    e2e.wait_job_active("reshaped")
    retry = {"maxRetries": 2, "backoff": {"initialSeconds": 8}, "retryOn": {"exitCodes": [137]}}
    # Its infrastructure override fits a single-node job only.
    override = {"shape": "VM.Standard.E4.Flex", "ocpus": 1, "memoryInGBs": 16}
    e2e.apply(e2e.run("reshaped-1", "reshaped", retryPolicy=retry, infrastructure=override))
    first = _pending_retry(e2e, "reshaped-1")["attempts"][0]

    # While the retry waits, the TrainingJob becomes multi-node: the retry's create is refused.
    e2e.kube.patch(
        JOBS, "reshaped", e2e.namespace, {"spec": {"nodes": {"groups": [{"name": "workers", "replicas": 1}]}}}
    )
    status = e2e.wait_run("reshaped-1", "Failed", timeout=90)["status"]
    assert status.get("nextAttemptAt") is None, status  # finished: TTL, history, sweeps can see it
    [only] = status["attempts"]
    assert (only["jobRunId"], only["retried"]) == (first["jobRunId"], False)
    assert only["reason"].startswith("its retry could not be created: spec.infrastructure"), only
    stalled = next(c for c in status["conditions"] if c["type"] == "Stalled")
    assert (stalled["status"], stalled["reason"]) == ("True", "InvalidOverride")
    assert [r.id for r in e2e.oci_runs()] == [first["jobRunId"]]


def test_deleting_the_job_keeps_every_attempt_of_a_retain_run(e2e: Scenario) -> None:
    marker = e2e.work_dir / "kept-marker"
    e2e.apply(e2e.job("kept", FLAKY, env={"MARKER_FILE": str(marker)}))
    job_id = e2e.wait_job_active("kept")["status"]["jobId"]
    slow = {
        "maxRetries": 1,
        "backoff": {"initialSeconds": 600, "maxSeconds": 600},
        "retryOn": {"exitCodes": [137]},
    }
    e2e.apply(e2e.run("kept-1", "kept", retryPolicy=slow, deletion_policy="Retain"))
    first = _pending_retry(e2e, "kept-1")["attempts"][0]["jobRunId"]  # no jobRunId while it waits

    e2e.kube.delete(JOBS, "kept", e2e.namespace, timeout=90)
    run = e2e.oci.get_job_run(first)
    assert run is not None and run.lifecycle_state == "FAILED", run  # not deleted with its job
    job = e2e.oci.get_job(job_id)
    assert job is not None and job.lifecycle_state == "ACTIVE", job
    assert first in e2e.wait_event("kept", "JobKept")["message"]


def test_a_retry_reruns_its_first_attempts_job_after_a_new_revision(e2e: Scenario) -> None:
    marker = e2e.work_dir / "pinned-marker"
    e2e.apply(e2e.job("pinned", FLAKY, env={"MARKER_FILE": str(marker)}))
    old_job = e2e.wait_job_active("pinned")["status"]["jobId"]
    retry = {"maxRetries": 1, "backoff": {"initialSeconds": 10}, "retryOn": {"exitCodes": [137]}}
    e2e.apply(e2e.run("pinned-1", "pinned", retryPolicy=retry))
    _pending_retry(e2e, "pinned-1")

    # A new revision (another artifact) while the retry waits: the retry still runs the old code.
    e2e.apply(e2e.job("pinned", "import sys; sys.exit(3)\n", env={"MARKER_FILE": str(marker)}))
    e2e.wait_job_status(
        "pinned", lambda s: s.get("jobId") not in (None, old_job) and s.get("phase") == "Active", "revision 2"
    )
    status = e2e.wait_run("pinned-1", "Succeeded", timeout=90)["status"]
    assert status["attempt"] == 2 and status["jobId"] == old_job, status
    assert e2e.oci.get_job_run(status["jobRunId"]).job_id == old_job
    # The retry waited ~10 s asleep: one line when its daemon ended, none per tick (a 2 s timer
    # logged "Timer 'retry' succeeded." on each).
    assert e2e.operator.log_text().count("'retry' succeeded") <= 1


def test_cancel_of_a_run_gone_from_oci_is_followed_to_its_end(
    world: Scenario, start_operator: Callable[..., OperatorProcess]
) -> None:
    """spec.cancel set while the operator is down, on a run that meanwhile ended and was deleted in
    OCI (neither readable nor listed): the poller follows it and proves it gone, not left
    InProgress forever."""
    op = start_operator()
    world.apply(world.job("vanished", scripts.GATED))
    world.wait_job_active("vanished")
    release = world.release_file("vanished-1")
    world.apply(
        world.run("vanished-1", "vanished", env={"RELEASE_FILE": str(release)}, retryPolicy={"maxRetries": 1})
    )
    run_id = world.wait_run("vanished-1", "InProgress")["status"]["jobRunId"]
    op.stop()
    release.touch()
    wait_for(
        lambda: world.oci.get_job_run(run_id).lifecycle_state == "SUCCEEDED", timeout=60, message="run done"
    )
    world.oci.ds.delete_job_run(run_id)  # e.g. in the console
    world.kube.patch(RUNS, "vanished-1", world.namespace, {"spec": {"cancel": True}})
    op.start()

    status = world.wait_run("vanished-1", "Deleted", timeout=60)["status"]
    assert status["jobRunId"] == run_id and status.get("nextAttemptAt") is None, status
    [only] = status["attempts"]
    assert (only["jobRunId"], only["phase"], only["retried"]) == (run_id, "Deleted", False), only
    assert len(world.oci_runs()) == 0  # nothing made again

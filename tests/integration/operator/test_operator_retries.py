"""spec.retryPolicy and spec.cancel of a TrainingJobRun, end to end: each retry is a new OCI job run,
a failure the policy does not name is final, cancel stops a running run, drops a pending retry and
keeps a run not yet created from ever being created; deletion removes every attempt's OCI run."""

from __future__ import annotations

from typing import Any

import operator_scripts as scripts
import pytest
from operator_harness import RUNS, Scenario, wait_for

pytestmark = pytest.mark.integration

# Fails with FIRST_EXIT the first time it runs, succeeds after (MARKER_FILE remembers a run).
FLAKY = """\
import os, sys
marker = os.environ["MARKER_FILE"]
seen = os.path.exists(marker)
open(marker, "a").write("x")
print(f"attempt seen_before={seen}", flush=True)
sys.exit(0 if seen else int(os.environ.get("FIRST_EXIT", "137")))
"""
FAST_RETRY = {"maxRetries": 2, "backoff": {"initialSeconds": 1}, "retryOn": {"exitCodes": [137]}}


def _runs_of(e2e: Scenario, job_id: str) -> list[Any]:
    return sorted(e2e.oci_runs(job_id), key=lambda r: r.time_accepted)


def test_retry_succeeds_on_second_attempt_and_deletion_removes_both_runs(e2e: Scenario) -> None:
    marker = e2e.work_dir / "flaky-marker"
    e2e.apply(e2e.job("flaky", FLAKY, env={"MARKER_FILE": str(marker)}))
    job_id = e2e.wait_job_active("flaky")["status"]["jobId"]
    e2e.apply(e2e.run("flaky-1", "flaky", retryPolicy=FAST_RETRY))

    run = e2e.wait_run("flaky-1", "Succeeded", timeout=120)
    status = run["status"]
    assert status["attempt"] == 2, status
    first, second = status["attempts"]
    assert (first["attempt"], first["phase"], first["exitCode"], first["retried"]) == (1, "Failed", 137, True)
    assert first["reason"] == "exit code 137 is retryable: retry 1 of 2"
    assert (second["attempt"], second["phase"], second["retried"]) == (2, "Succeeded", False)
    assert second["jobRunId"] == status["jobRunId"] != first["jobRunId"]
    assert status.get("nextAttemptAt") is None and status["exitCode"] == 0

    # Two OCI runs of the same job: the retry named -a2 and tagged with its attempt.
    oci_runs = _runs_of(e2e, job_id)
    assert [r.id for r in oci_runs] == [first["jobRunId"], second["jobRunId"]]
    assert [r.lifecycle_state for r in oci_runs] == ["FAILED", "SUCCEEDED"]
    assert oci_runs[1].display_name == f"{oci_runs[0].display_name}-a2"
    assert oci_runs[1].freeform_tags["ocids.io/attempt"] == "2"
    backoff = e2e.wait_event("flaky-1", "RetryBackoff")
    assert backoff["type"] == "Warning" and first["jobRunId"] in backoff["message"], backoff

    # Deleting the TrainingJobRun deletes both attempts' runs in OCI (deletionPolicy Delete).
    e2e.kube.delete(RUNS, "flaky-1", e2e.namespace, timeout=60)
    for run_id in (first["jobRunId"], second["jobRunId"]):
        gone = e2e.oci.get_job_run(run_id)
        assert gone is None or gone.lifecycle_state == "DELETED", (run_id, gone)


def test_exit_code_not_named_is_not_retried(e2e: Scenario) -> None:
    e2e.apply(e2e.job("broken", scripts.FAIL, env={"EXIT_CODE": "1"}))
    job_id = e2e.wait_job_active("broken")["status"]["jobId"]
    e2e.apply(e2e.run("broken-1", "broken", retryPolicy=FAST_RETRY))

    status = e2e.wait_run("broken-1", "Failed", timeout=120)["status"]
    assert status["exitCode"] == 1
    [only] = status["attempts"]
    assert (only["retried"], only["reason"]) == (False, "exit code 1 is not retryable (retryOn.exitCodes)")
    assert "not retried" in status["message"]
    assert len(e2e.oci_runs(job_id)) == 1


def test_infrastructure_failure_is_retried(e2e: Scenario) -> None:
    e2e.apply(e2e.job("capacity", scripts.TRAIN, env={"EPOCHS": "1"}))
    job_id = e2e.wait_job_active("capacity")["status"]["jobId"]
    details = "Job run failed: out of host capacity for shape VM.Standard.E4.Flex."
    e2e.admin.fail_runs(next_runs=1, lifecycle_details=details)
    e2e.apply(
        e2e.run("capacity-1", "capacity", retryPolicy={"maxRetries": 1, "backoff": {"initialSeconds": 1}})
    )

    status = e2e.wait_run("capacity-1", "Succeeded", timeout=120)["status"]
    first = status["attempts"][0]
    assert (first["lifecycleDetails"], first["retried"]) == (details, True)
    assert first["reason"] == "an infrastructure failure is retryable: retry 1 of 1"
    assert "exitCode" not in first
    assert [r.lifecycle_state for r in _runs_of(e2e, job_id)] == ["FAILED", "SUCCEEDED"]


def test_cancel_stops_a_running_run_and_it_is_not_retried(e2e: Scenario) -> None:
    e2e.apply(e2e.job("long", scripts.GATED))
    e2e.wait_job_active("long")
    release = e2e.release_file("long-1")
    retry = {"maxRetries": 3, "backoff": {"initialSeconds": 1}, "retryOn": {"timeouts": True}}
    e2e.apply(e2e.run("long-1", "long", env={"RELEASE_FILE": str(release)}, retryPolicy=retry))
    try:
        run_id = e2e.wait_run("long-1", "InProgress")["status"]["jobRunId"]
        e2e.kube.patch(RUNS, "long-1", e2e.namespace, {"spec": {"cancel": True}})

        status = e2e.wait_run("long-1", "Canceled", timeout=60)["status"]
        assert status["jobRunId"] == run_id
        assert e2e.oci.get_job_run(run_id).lifecycle_state == "CANCELED"
        assert run_id in e2e.wait_event("long-1", "Canceling")["message"]
        e2e.wait_event("long-1", "Canceled")
        # Canceled is final: the object is kept, nothing more is created in OCI.
        assert len(e2e.oci_runs()) == 1
        assert status.get("nextAttemptAt") is None
    finally:
        release.touch()


def test_cancel_drops_a_pending_retry(e2e: Scenario) -> None:
    marker = e2e.work_dir / "slow-retry-marker"
    e2e.apply(e2e.job("later", FLAKY, env={"MARKER_FILE": str(marker)}))
    job_id = e2e.wait_job_active("later")["status"]["jobId"]
    slow = {
        "maxRetries": 2,
        "backoff": {"initialSeconds": 600, "maxSeconds": 600},
        "retryOn": {"exitCodes": [137]},
    }
    e2e.apply(e2e.run("later-1", "later", retryPolicy=slow))

    def pending() -> dict[str, Any] | None:
        status = (e2e.get_run("later-1") or {}).get("status") or {}
        return status if status.get("nextAttemptAt") else None

    waiting = wait_for(pending, timeout=90, message="a retry pending")
    assert waiting["phase"] == "Pending" and waiting["attempts"][0]["retried"] is True
    assert (next(c for c in waiting["conditions"] if c["type"] == "Ready"))["reason"] == "RetryBackoff"

    e2e.kube.patch(RUNS, "later-1", e2e.namespace, {"spec": {"cancel": True}})
    status = e2e.wait_run("later-1", "Canceled", timeout=30)["status"]
    assert status.get("nextAttemptAt") is None
    assert status["attempts"][0]["retried"] is False
    assert status["attempts"][0]["reason"] == "canceled before its retry"
    assert "canceled while waiting to retry" in status["message"]
    assert len(e2e.oci_runs(job_id)) == 1


def test_cancel_before_creation_means_never_created(e2e: Scenario) -> None:
    e2e.apply(e2e.run("early-1", "not-yet"))
    e2e.wait_run("early-1", "Pending")
    e2e.kube.patch(RUNS, "early-1", e2e.namespace, {"spec": {"cancel": True}})
    status = e2e.wait_run("early-1", "Canceled", timeout=30)["status"]
    assert status["message"] == "canceled before it started: no OCI job run was created"
    assert e2e.wait_event("early-1", "Canceled")["type"] == "Normal"

    # The TrainingJob appearing later changes nothing: the run is never created.
    e2e.apply(e2e.job("not-yet", scripts.TRAIN, env={"EPOCHS": "1"}))
    job_id = e2e.wait_job_active("not-yet")["status"]["jobId"]
    assert e2e.get_run("early-1")["status"]["phase"] == "Canceled"
    assert e2e.oci_runs(job_id) == []


@pytest.mark.parametrize("timeouts", [True, False])
def test_timeout_is_retried_only_when_timeouts_is_set(e2e: Scenario, timeouts: bool) -> None:
    e2e.apply(e2e.job("slow", scripts.TRAIN, env={"EPOCHS": "1"}))
    job_id = e2e.wait_job_active("slow")["status"]["jobId"]
    e2e.admin.fail_runs(next_runs=1, kind="timeout")
    retry = {"maxRetries": 1, "backoff": {"initialSeconds": 1}, "retryOn": {"timeouts": timeouts}}
    e2e.apply(e2e.run("slow-1", "slow", retryPolicy=retry))

    status = e2e.wait_run("slow-1", "Succeeded" if timeouts else "Failed", timeout=120)["status"]
    first = status["attempts"][0]
    assert first["lifecycleDetails"].startswith("Job run timed out"), first
    if timeouts:
        assert first["reason"] == "a timeout is retryable: retry 1 of 1"
        assert [r.lifecycle_state for r in _runs_of(e2e, job_id)] == ["FAILED", "SUCCEEDED"]
    else:
        assert first["reason"] == "a timeout is not retried (retryOn.timeouts is false)"
        assert len(e2e.oci_runs(job_id)) == 1

"""What users do in the wrong order, and OCI having a bad moment: the operator waits and retries."""

from __future__ import annotations

import operator_scripts as scripts
import pytest
from operator_harness import Scenario, condition

pytestmark = pytest.mark.integration


def test_run_applied_before_its_job_waits_then_runs(e2e: Scenario) -> None:
    # `kubectl apply -f dir/` may create the run first.
    e2e.apply(e2e.run("early-1", "late"))
    early = e2e.wait_run("early-1", "Pending", timeout=30)
    assert "late" in (early["status"].get("message") or ""), early["status"]
    e2e.apply(e2e.job("late", scripts.TRAIN, env={"EPOCHS": "1"}))
    run = e2e.wait_run("early-1", "Succeeded", timeout=120)
    assert run["status"]["jobId"] == e2e.wait_job_active("late")["status"]["jobId"]
    # Waiting (re-checked every poll interval) is routine: no Error-type Event, no ERROR log line.
    events = e2e.kube.events(e2e.namespace)
    assert [ev for ev in events if ev.get("type") not in ("Normal", "Warning")] == [], events
    assert "TrainingJobNotFound" in [ev.get("reason") for ev in e2e.kube.events(e2e.namespace, "early-1")]
    assert e2e.operator is not None
    errors = [line for line in e2e.operator.log_text().splitlines() if " ERROR " in line]
    assert not [line for line in errors if "failed temporarily" in line or "late" in line], errors


def test_transient_oci_errors_are_retried_without_duplicates(e2e: Scenario) -> None:
    e2e.admin.set_faults(
        {
            "errors": [
                {"operation": "create_job", "status": 503, "count": 4},
                {"operation": "create_job_run", "status": 500, "count": 4},
                # The poller learns a run's end from ListJobRuns (no GetJobRun a run need be made).
                {"operation": "list_job_runs", "status": 429, "count": 3},
            ]
        }
    )
    e2e.apply(e2e.job("flaky", scripts.TRAIN, env={"EPOCHS": "1"}))
    job_id = e2e.wait_job_active("flaky", timeout=120)["status"]["jobId"]
    e2e.apply(e2e.run("flaky-1", "flaky"))
    run = e2e.wait_run("flaky-1", "Succeeded", timeout=120)
    assert e2e.admin.get_faults()["errors"] == [] or all(
        r.get("count") == 0 for r in e2e.admin.get_faults()["errors"]
    ), "every injected fault was hit"
    assert [j.id for j in e2e.oci_jobs()] == [job_id]
    assert [r.id for r in e2e.oci_runs()] == [run["status"]["jobRunId"]]
    ready = condition(e2e.get_job("flaky"), "Ready")
    assert ready is not None and ready["status"] == "True", ready


def test_runs_over_the_oci_limit_start_once_capacity_frees(e2e: Scenario) -> None:
    e2e.admin.set_faults({"maxActiveRuns": 1})
    e2e.apply(e2e.job("capped", scripts.GATED))
    e2e.wait_job_active("capped")
    first, second = e2e.release_file("first"), e2e.release_file("second")
    second.touch()
    e2e.apply(e2e.run("capped-1", "capped", env={"MARKER": "1", "RELEASE_FILE": str(first)}))
    e2e.wait_run("capped-1", "InProgress")
    e2e.apply(e2e.run("capped-2", "capped", env={"MARKER": "2", "RELEASE_FILE": str(second)}))
    # The second cannot start yet: OCI answers LimitExceeded. It must say so, and wait (a run that
    # never ran is not Failed).
    e2e.wait_event("capped-2", "OCILimitExceeded")
    waiting = e2e.get_run("capped-2") or {}
    assert not waiting["status"].get("jobRunId"), waiting["status"]
    assert waiting["status"].get("phase") in ("Pending", None), waiting["status"]

    first.touch()
    e2e.wait_run("capped-1", "Succeeded")
    run = e2e.wait_run("capped-2", "Succeeded", timeout=120)
    assert run["status"]["jobRunId"]

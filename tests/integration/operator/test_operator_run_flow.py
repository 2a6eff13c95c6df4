"""The seed's flow: a TrainingJob trains and saves a model, a TrainingJobRun runs it to Succeeded."""

from __future__ import annotations

from datetime import datetime

import operator_scripts as scripts
import pytest
from operator_harness import RUNS, Scenario, condition, log_query_from_url

pytestmark = pytest.mark.integration


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def test_training_run_succeeds_with_links_logs_and_events(e2e: Scenario) -> None:
    e2e.apply(e2e.job("attrition", scripts.TRAIN, env={"EPOCHS": "4"}))
    job = e2e.wait_job_active("attrition")
    job_id = job["status"]["jobId"]
    assert job_id.startswith("ocid1.datasciencejob."), job["status"]
    assert job["status"]["revision"] == 1
    # Ready says where the OCI job is now, not what the operator was doing when it created it.
    assert (condition(job, "Ready") or {}).get("message") == f"OCI job {job_id} revision 1 is ACTIVE", job
    assert job["status"]["consoleUrl"] == (
        f"https://cloud.oracle.com/data-science/jobs/{job_id}?region={e2e.region}"
    )

    # The run's env is merged over the job's: EPOCHS=3 wins over the job's 4.
    e2e.apply(e2e.run("attrition-lr-0-3", "attrition", env={"LEARNING_RATE": "0.3", "EPOCHS": "3"}))
    e2e.kube.wait_condition(RUNS, "attrition-lr-0-3", e2e.namespace, "Succeeded", timeout=120)

    run = e2e.get_run("attrition-lr-0-3")
    assert run is not None
    status = run["status"]
    run_id = status["jobRunId"]
    assert status["phase"] == "Succeeded"
    assert run_id.startswith("ocid1.datasciencejobrun."), status
    assert status["jobId"] == job_id
    assert status["exitCode"] == 0
    assert _time(status["timeAccepted"]) <= _time(status["timeStarted"]) <= _time(status["timeFinished"])
    ran_for = (_time(status["timeFinished"]) - _time(status["timeStarted"])).total_seconds()
    # What a user reads: DURATION is exactly FINISHED - STARTED as the columns show them.
    assert status["duration"] == f"{int(ran_for)}s", status  # the script runs for seconds
    assert (
        status["consoleUrl"] == f"https://cloud.oracle.com/data-science/job-runs/{run_id}?region={e2e.region}"
    )
    assert status["logs"]["url"].startswith("https://cloud.oracle.com/logging/search?searchQuery=")
    assert f"regions={e2e.region}" in status["logs"]["url"]
    assert run_id in log_query_from_url(status["logs"]["url"])
    assert (condition(run, "Succeeded") or {}).get("status") == "True"
    for type_ in ("Ready", "Succeeded", "Failed"):
        assert (
            (condition(run, type_) or {}).get("message", "").startswith(f"OCI job run {run_id} is SUCCEEDED")
        ), status["conditions"]

    # The link's query, run through the Logging API, returns what the script printed.
    lines = e2e.run_log(run, "saved model.json")
    assert [line for line in lines if line.startswith("epoch=")][-1].startswith("epoch=3 "), lines
    assert any(f"run={run_id}" in line for line in lines), lines

    assert e2e.oci.get_job_run(run_id).lifecycle_state == "SUCCEEDED"
    assert len(e2e.oci_jobs()) == 1

    # Phase changes are told to `kubectl get events` users.
    succeeded = e2e.wait_event("attrition-lr-0-3", "Succeeded")
    assert succeeded["type"] == "Normal" and run_id in succeeded["message"], succeeded
    assert run_id in e2e.wait_event("attrition-lr-0-3", "Created")["message"]


def test_failing_script_ends_failed_with_its_exit_code(e2e: Scenario) -> None:
    e2e.apply(e2e.job("broken", scripts.FAIL, env={"EXIT_CODE": "7"}))
    e2e.wait_job_active("broken")
    e2e.apply(e2e.run("broken-1", "broken"))
    e2e.kube.wait_condition(RUNS, "broken-1", e2e.namespace, "Failed", timeout=120)

    run = e2e.get_run("broken-1")
    assert run is not None
    assert run["status"]["phase"] == "Failed"
    assert run["status"]["exitCode"] == 7, run["status"]
    assert "7" in run["status"].get("lifecycleDetails", ""), run["status"]
    assert e2e.oci.get_job_run(run["status"]["jobRunId"]).lifecycle_state == "FAILED"
    assert "about to fail" in " ".join(e2e.run_log(run, "about to fail"))

    failed = e2e.wait_event("broken-1", "Failed")
    assert failed["type"] == "Warning" and "exit code 7" in failed["message"], failed
    # A failed run stays failed: the operator never re-runs it.
    assert len(e2e.oci_runs()) == 1

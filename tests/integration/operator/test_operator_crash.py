"""SIGKILL of the operator right after an OCI create (before the status write), or mid-run."""

from __future__ import annotations

from collections.abc import Callable

import operator_scripts as scripts
import pytest
from operator_harness import OperatorProcess, Scenario, wait_for

pytestmark = pytest.mark.integration
CRASH_EXIT = 137


def test_crash_after_oci_creates_leaves_exactly_one_job_and_one_run(
    world: Scenario, start_operator: Callable[..., OperatorProcess]
) -> None:
    op = start_operator(env={"OCIDS_DEBUG_CRASH_AFTER": "create_job"})
    world.apply(world.job("sturdy", scripts.TRAIN, env={"EPOCHS": "1"}))
    assert op.wait_exit(timeout=60) == CRASH_EXIT, op.log_text()[-3000:]
    assert len(world.oci_jobs()) == 1, "the crash point comes after CreateJob"
    assert not (world.get_job("sturdy") or {}).get("status", {}).get("jobId"), "status was not written"

    op.start(env_overrides={"OCIDS_DEBUG_CRASH_AFTER": ""})
    job_id = world.wait_job_active("sturdy")["status"]["jobId"]
    assert [j.id for j in world.oci_jobs()] == [job_id]

    op.restart(env_overrides={"OCIDS_DEBUG_CRASH_AFTER": "create_job_run"})
    world.apply(world.run("sturdy-1", "sturdy"))
    assert op.wait_exit(timeout=60) == CRASH_EXIT, op.log_text()[-3000:]
    assert len(world.oci_runs()) == 1, "the crash point comes after CreateJobRun"
    assert not (world.get_run("sturdy-1") or {}).get("status", {}).get("jobRunId"), "status was not written"

    op.start(env_overrides={"OCIDS_DEBUG_CRASH_AFTER": ""})
    run = world.wait_run("sturdy-1", "Succeeded")
    assert [r.id for r in world.oci_runs()] == [run["status"]["jobRunId"]]
    assert [j.id for j in world.oci_jobs()] == [job_id]


def test_operator_killed_mid_run_picks_the_run_up_after_restart(e2e: Scenario) -> None:
    e2e.apply(e2e.job("resumable", scripts.GATED))
    e2e.wait_job_active("resumable")
    release = e2e.release_file("resumable-1")
    e2e.apply(e2e.run("resumable-1", "resumable", env={"MARKER": "m1", "RELEASE_FILE": str(release)}))
    run_id = e2e.wait_run("resumable-1", "InProgress")["status"]["jobRunId"]

    assert e2e.operator is not None
    e2e.operator.kill()
    # The run finishes in OCI while no operator is watching.
    release.touch()
    wait_for(
        lambda: e2e.oci.get_job_run(run_id).lifecycle_state == "SUCCEEDED", timeout=30, message="OCI run done"
    )
    assert (e2e.get_run("resumable-1") or {})["status"]["phase"] == "InProgress"

    e2e.operator.start()
    run = e2e.wait_run("resumable-1", "Succeeded")
    assert run["status"]["jobRunId"] == run_id
    assert run["status"]["exitCode"] == 0
    assert [r.id for r in e2e.oci_runs()] == [run_id]

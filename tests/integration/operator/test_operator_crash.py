"""SIGKILL right after an OCI create, before the status write: a restart must not create a second one."""

from __future__ import annotations

from collections.abc import Callable

import operator_scripts as scripts
import pytest
from operator_harness import OperatorProcess, Scenario

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

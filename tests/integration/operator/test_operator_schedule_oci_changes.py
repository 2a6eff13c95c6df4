"""TrainingJobSchedule with engine OCI: spec changes reach the same OCI Schedule in place (cron,
suspend), and Forbid cancels a run OCI made behind a running one (best effort, once seen), which
becomes no TrainingJobRun and is deleted once canceled.

Firing is driven by the emulator's test-only Schedules clock (emu.admin.advance_schedules).
"""

from __future__ import annotations

import json
from typing import Any

import operator_scripts as scripts
import pytest
from harness_kube import wait_for
from operator_harness import Scenario
from test_operator_schedule import SCHEDULES, get_schedule, schedule_runs, wait_schedules_crd
from test_operator_schedule_oci import OCI_TICKS, advance_minutes, align, oci_schedule, scheduled

pytestmark = pytest.mark.integration


def test_spec_changes_reach_the_oci_schedule_and_forbid_cancels_a_run_behind_a_running_one(
    world: Scenario, start_operator: Any
) -> None:
    wait_schedules_crd(world.kube)
    world.operator = start_operator(env=OCI_TICKS)
    release = world.release_file("held")
    world.apply(world.job("held", scripts.GATED, env={"RELEASE_FILE": str(release), "GATE_TIMEOUT": "120"}))
    job_id = world.wait_job_active("held")["status"]["jobId"]
    align(world)
    world.apply(oci_schedule("gate", world.namespace, "held", concurrencyPolicy="Forbid"))
    schedule_id = scheduled(world, "gate")["scheduleId"]

    first = advance_minutes(world, 1)
    assert len(first) == 1
    runs = wait_for(lambda: schedule_runs(world, "gate"), timeout=30, message="the first run adopted")
    world.wait_run(runs[0]["metadata"]["name"], "InProgress", timeout=30)
    # OCI makes the next while the first still runs: the operator cancels it as soon as it sees it.
    second = advance_minutes(world, 1)
    assert len(second) == 1
    canceled = world.wait_event("gate", "RunCanceled", timeout=30)
    assert second[0] in canceled["message"] and "Forbid" in canceled["message"], canceled
    wait_for(
        lambda: world.oci.get_job_run(second[0]).lifecycle_state == "CANCELED", timeout=30, message="canceled"
    )
    status = wait_for(
        lambda: (s := get_schedule(world, "gate")["status"]).get("skippedSchedules") and s,
        timeout=20,
        message="status.skippedSchedules",
    )
    assert status["skippedSchedules"] == 1
    assert world.oci.get_job_run(first[0]).lifecycle_state == "IN_PROGRESS"
    # A skipped time is counted, not kept as failed history: no TrainingJobRun, and its OCI run,
    # once canceled, goes per the run template's deletionPolicy (Delete).
    assert [r["metadata"]["name"] for r in schedule_runs(world, "gate")] == [runs[0]["metadata"]["name"]]
    wait_for(
        lambda: (r := world.oci.get_job_run(second[0])) is None or r.lifecycle_state == "DELETED",
        timeout=30,
        message="the skipped OCI run deleted",
    )
    release.write_text("go")

    # Edits reach the same OCI Schedule in place: a new cron, then suspend (deactivated: nothing fires).
    patch = {"spec": {"schedule": "0 3 * * *"}}
    world.kube.kubectl(
        "patch", SCHEDULES, "gate", "-n", world.namespace, "--type=merge", "-p", json.dumps(patch)
    )
    wait_for(
        lambda: world.oci.ds.get_schedule(schedule_id).data.trigger.cron_expression == "0 3 * * *",
        timeout=30,
        message="the OCI Schedule's cron updated",
    )
    patch = {"spec": {"suspend": True}}
    world.kube.kubectl(
        "patch", SCHEDULES, "gate", "-n", world.namespace, "--type=merge", "-p", json.dumps(patch)
    )
    wait_for(
        lambda: world.oci.ds.get_schedule(schedule_id).data.lifecycle_state == "INACTIVE",
        timeout=30,
        message="the OCI Schedule deactivated",
    )
    status = wait_for(
        lambda: (s := get_schedule(world, "gate")["status"]).get("phase") == "Suspended" and s,
        timeout=20,
        message="phase Suspended",
    )
    assert status["scheduleId"] == schedule_id and not status.get("nextScheduleTime")
    assert world.admin.advance_schedules(86400)["fired"] == []
    assert {r.id for r in world.oci_runs(job_id)} == {first[0]}

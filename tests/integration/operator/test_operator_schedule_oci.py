"""TrainingJobSchedule with engine OCI against the real API server and emulator: the OCI Data Science
Schedule keeps firing while the operator is stopped, and its runs appear as TrainingJobRuns after;
a TrainingJobRun may follow only an OCI run its own schedule made; what OCI cannot do is refused;
deletion per deletionPolicy. Spec changes and Forbid: test_operator_schedule_oci_changes.py.

Firing is driven by the emulator's test-only Schedules clock (emu.admin.advance_schedules), so no
test waits for minutes to turn; the operator only ever talks to the OCI API.
"""

from __future__ import annotations

import datetime
from typing import Any

import operator_scripts as scripts
import pytest
from harness_kube import RUNS, condition, status_summary, wait_for
from operator_harness import Scenario
from operator_manifests import API_VERSION, env_list
from test_operator_schedule import (
    FAST_TICKS,
    SCHEDULES,
    get_schedule,
    schedule,
    schedule_runs,
    wait_schedules_crd,
)

pytestmark = pytest.mark.integration
ANNOTATION = "ocids.io/job-run-id"
# The tests move the emulator's Schedules clock ahead, which the operator's own cron arithmetic (real
# time) cannot see: it reads the OCI Schedule and lists its runs every 2 s instead of after each
# cron time (what a user meets: OCIDS_SCHEDULE_OCI_RECHECK_SECONDS, default 300).
OCI_TICKS = {**FAST_TICKS, "OCIDS_SCHEDULE_OCI_RECHECK_SECONDS": "2"}


def oci_schedule(name: str, namespace: str, job: str, **spec: Any) -> dict[str, Any]:
    return schedule(name, namespace, job, engine="OCI", **spec)


def scheduled(world: Scenario, name: str) -> dict[str, Any]:
    """The schedule's status once it has its OCI Schedule."""
    return wait_for(  # type: ignore[no-any-return]
        lambda: (s := get_schedule(world, name).get("status") or {}).get("scheduleId") and s,
        timeout=30,
        message=lambda: f"status.scheduleId; {status_summary(get_schedule(world, name))}",
    )


def advance_minutes(world: Scenario, minutes: int) -> list[str]:
    """Move the emulator's Schedules clock to 5 s past the minute `minutes` ahead: each minute turned
    fires once, and no minute turns in real time for the next 55 s (only this fires what a test
    counts). The OCI runs made."""
    now = datetime.datetime.fromisoformat(world.admin.advance_schedules(0)["now"].replace("Z", "+00:00"))
    target = now.replace(second=5, microsecond=0) + datetime.timedelta(minutes=minutes)
    return list(world.admin.advance_schedules((target - now).total_seconds())["fired"])


def align(world: Scenario) -> None:
    """Before a schedule exists: 5 s past a minute (see advance_minutes)."""
    advance_minutes(world, 1)


def minute_name(schedule_name: str, accepted: datetime.datetime) -> str:
    return f"{schedule_name}-{int(accepted.timestamp()) // 60}"


def test_oci_keeps_firing_while_the_operator_is_stopped_and_the_runs_appear_after(
    world: Scenario, start_operator: Any
) -> None:
    wait_schedules_crd(world.kube)
    world.operator = start_operator(env=OCI_TICKS)
    world.apply(world.job("quick", scripts.FAIL, env={"EXIT_CODE": "0"}))
    job_id = world.wait_job_active("quick")["status"]["jobId"]
    align(world)
    world.apply(
        oci_schedule(
            "nightly",
            world.namespace,
            "quick",
            runTemplate={"env": env_list({"MARKER": "oci"}), "metadata": {"labels": {"team": "ml"}}},
        )
    )
    status = scheduled(world, "nightly")
    uid = get_schedule(world, "nightly")["metadata"]["uid"]
    made = world.oci.ds.get_schedule(status["scheduleId"]).data
    assert (made.lifecycle_state, made.trigger.cron_expression) == ("ACTIVE", "* * * * *")
    action = made.action.action_details.create_job_run_details
    assert action.job_id == job_id
    assert action.freeform_tags["ocids.io/schedule-uid"] == uid
    assert action.freeform_tags["ocids.io/namespace"] == world.namespace
    assert action.job_configuration_override_details.environment_variables["MARKER"] == "oci"
    assert (
        status["phase"] == "Active" and (condition({"status": status}, "Ready") or {}).get("status") == "True"
    )

    # The operator stops; two minutes pass in OCI: its Schedule makes two runs, which really run.
    world.operator.stop()
    fired = advance_minutes(world, 1) + advance_minutes(world, 1)  # one jump fires only its latest
    assert len(fired) == 2
    for run_id in fired:
        wait_for(
            lambda run_id=run_id: world.oci.get_job_run(run_id).lifecycle_state == "SUCCEEDED",
            timeout=60,
            message=f"OCI run {run_id} to succeed",
        )
    assert schedule_runs(world, "nightly") == []

    # Back: each becomes a TrainingJobRun named after its minute, following (not re-making) the run.
    world.operator = start_operator(env=OCI_TICKS)
    runs = wait_for(
        lambda: len(r := schedule_runs(world, "nightly")) == 2 and r, timeout=30, message="two runs adopted"
    )
    accepted = {run_id: world.oci.get_job_run(run_id).time_accepted for run_id in fired}
    assert [r["metadata"]["name"] for r in runs] == sorted(
        minute_name("nightly", t) for t in accepted.values()
    )
    for item in runs:
        run = world.wait_run(item["metadata"]["name"], "Succeeded", timeout=30)
        run_id = run["metadata"]["annotations"][ANNOTATION]
        assert run["status"]["jobRunId"] == run_id and run_id in fired
        assert run["metadata"]["name"] == minute_name("nightly", accepted[run_id])
        assert run["metadata"]["labels"]["team"] == "ml"
    assert len(world.oci_runs(job_id)) == 2  # nothing created by the operator
    status = wait_for(
        lambda: (s := get_schedule(world, "nightly")["status"]).get("lastScheduleTime") and s,
        timeout=20,
        message="status.lastScheduleTime",
    )
    latest = max(accepted.values())
    last = datetime.datetime.fromisoformat(status["lastScheduleTime"].replace("Z", "+00:00"))
    assert abs((last - latest).total_seconds()) < 1, (status, latest)

    # Deletion: the OCI Schedule first (no more runs), then the runs, and with them their OCI runs.
    world.kube.delete(SCHEDULES, "nightly", world.namespace, timeout=60)
    assert world.oci.ds.get_schedule(status["scheduleId"]).data.lifecycle_state == "DELETED"
    assert schedule_runs(world, "nightly") == []
    assert world.oci_runs(job_id) == []
    assert world.admin.advance_schedules(120)["fired"] == []


def test_a_run_follows_only_an_oci_run_its_schedule_made_and_unsupported_fields_are_named(
    world: Scenario, start_operator: Any
) -> None:
    wait_schedules_crd(world.kube)
    world.operator = start_operator(env=OCI_TICKS)
    world.apply(world.job("quick", scripts.FAIL, env={"EXIT_CODE": "0"}))
    world.wait_job_active("quick")
    # An OCI run of this job the operator did not make for a schedule (another TrainingJobRun's).
    world.apply(world.run("plain", "quick"))
    plain = world.wait_run("plain", "Succeeded", timeout=60)
    foreign_id = plain["status"]["jobRunId"]
    world.apply(
        {
            "apiVersion": API_VERSION,
            "kind": "TrainingJobRun",
            "metadata": {
                "name": "hijack",
                "namespace": world.namespace,
                "annotations": {ANNOTATION: foreign_id},
            },
            "spec": {"jobRef": {"name": "quick"}},
        }
    )
    stalled = wait_for(
        lambda: (
            (c := condition(world.get_run("hijack") or {}, "Stalled")) and c.get("status") == "True" and c
        ),
        timeout=30,
        message=lambda: f"hijack Stalled; {status_summary(world.get_run('hijack') or {})}",
    )
    assert stalled["reason"] == "AdoptionRefused", stalled
    assert foreign_id in stalled["message"] and "not made by a TrainingJobSchedule" in stalled["message"]
    assert not (world.get_run("hijack") or {}).get("status", {}).get("jobRunId")
    # Deleting it leaves the run it named alone (never followed, so never canceled nor deleted).
    world.kube.delete(RUNS, "hijack", world.namespace, timeout=30)
    assert world.oci.get_job_run(foreign_id).lifecycle_state == "SUCCEEDED"

    # What OCI's Schedules cannot do is refused, naming the field.
    world.apply(oci_schedule("berlin", world.namespace, "quick", timeZone="Europe/Berlin"))
    failed = wait_for(
        lambda: (s := get_schedule(world, "berlin").get("status") or {}).get("phase") == "Failed" and s,
        timeout=30,
        message=lambda: f"berlin Failed; {status_summary(get_schedule(world, 'berlin'))}",
    )
    message = (condition({"status": failed}, "Stalled") or {}).get("message", "")
    assert "spec.timeZone 'Europe/Berlin'" in message and "UTC" in message, failed
    assert world.oci.ds.list_schedules(world.compartment_id).data == []

    # deletionPolicy Retain: the OCI Schedule outlives the object, tagged, still firing.
    world.apply(oci_schedule("kept", world.namespace, "quick", deletionPolicy="Retain"))
    kept_id = scheduled(world, "kept")["scheduleId"]
    world.kube.delete(SCHEDULES, "kept", world.namespace, timeout=60)
    kept = world.oci.ds.get_schedule(kept_id).data
    assert kept.lifecycle_state == "ACTIVE" and kept.freeform_tags["ocids.io/deletion-policy"] == "Retain"

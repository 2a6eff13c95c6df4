"""TrainingJobSchedule with engine OCI when OCI's side changes under it: an OCI Schedule deleted in
the console is made again (a fresh retry token: OCI would replay the deleted one), a firing OCI
refuses is told (status.lastScheduleRunDetails, a Warning), an edit engine OCI cannot take stops the
old Schedule firing (phase Failed), Replace cancels through the older run's TrainingJobRun, and
deletion needs no TrainingJob (status records the Schedule's compartment and identity).

Firing is driven by the emulator's test-only Schedules clock (emu.admin.advance_schedules).
"""

from __future__ import annotations

import json
from typing import Any

import operator_scripts as scripts
import pytest
from harness_kube import condition, status_summary, wait_for
from operator_harness import JOBS, Scenario
from test_operator_schedule import SCHEDULES, get_schedule, schedule_runs, wait_schedules_crd
from test_operator_schedule_oci import OCI_TICKS, advance_minutes, align, oci_schedule, scheduled

pytestmark = pytest.mark.integration


def patch_schedule(world: Scenario, name: str, spec: dict[str, Any]) -> None:
    body = json.dumps({"spec": spec})
    world.kube.kubectl("patch", SCHEDULES, name, "-n", world.namespace, "--type=merge", "-p", body)


def event_saying(world: Scenario, name: str, text: str) -> dict[str, Any] | None:
    return next(
        (e for e in world.kube.events(world.namespace, name) if text in (e.get("message") or "")), None
    )


def oci_state(world: Scenario, schedule_id: str) -> str:
    return str(world.oci.ds.get_schedule(schedule_id).data.lifecycle_state)


def test_a_schedule_deleted_in_oci_is_made_again_firing_failures_are_told_and_deletion_needs_no_job(
    world: Scenario, start_operator: Any
) -> None:
    wait_schedules_crd(world.kube)
    world.operator = start_operator(env=OCI_TICKS)
    world.apply(world.job("quick", scripts.FAIL, env={"EXIT_CODE": "0"}))
    world.wait_job_active("quick")
    align(world)
    world.apply(oci_schedule("heal", world.namespace, "quick"))
    first = scheduled(world, "heal")
    assert first["compartmentId"] == world.compartment_id and first["serviceAccountName"] == ""

    # Deleted in the console while the operator is down: back, it makes a new one (not the replayed
    # answer of the first create's retry token, which names the deleted Schedule).
    world.operator.stop()
    world.oci.ds.delete_schedule(first["scheduleId"])
    assert oci_state(world, first["scheduleId"]) in ("DELETING", "DELETED")
    world.operator = start_operator(env=OCI_TICKS)
    status = wait_for(
        lambda: (s := get_schedule(world, "heal")["status"]).get("scheduleId") != first["scheduleId"] and s,
        timeout=30,
        message=lambda: f"a new OCI Schedule; {status_summary(get_schedule(world, 'heal'))}",
    )
    assert oci_state(world, status["scheduleId"]) == "ACTIVE"
    told_gone = f"created OCI Schedule {status['scheduleId']} (OCI Schedule {first['scheduleId']} is gone)"
    wait_for(
        lambda: event_saying(world, "heal", told_gone),
        timeout=10,
        message="Event Created, naming the gone one",
    )

    # Deactivated in the console: activated again (the spec says active), and told.
    world.oci.ds.deactivate_schedule(status["scheduleId"])
    wait_for(lambda: oci_state(world, status["scheduleId"]) == "ACTIVE", timeout=30, message="active again")
    again = wait_for(lambda: event_saying(world, "heal", "outside the operator"), timeout=10, message="told")
    assert again["type"] == "Warning" and again["reason"] == "Activated", again

    # A firing OCI refuses (a limit here) is told: status, and a Warning Event.
    world.admin.set_faults({"maxActiveRuns": 0})
    assert advance_minutes(world, 1) == []
    told = wait_for(
        lambda: (
            "could not be created"
            in (get_schedule(world, "heal")["status"].get("lastScheduleRunDetails") or "")
            and get_schedule(world, "heal")["status"]
        ),
        timeout=30,
        message="status.lastScheduleRunDetails",
    )
    assert "LimitExceeded" in told["lastScheduleRunDetails"], told
    warning = world.wait_event("heal", "FiringFailed", timeout=10)
    assert warning["type"] == "Warning" and status["scheduleId"] in warning["message"], warning
    world.admin.clear_faults()

    # The TrainingJob goes first: the schedule's deletion still finds and deletes its OCI Schedule.
    world.kube.delete(JOBS, "quick", world.namespace, timeout=60)
    world.kube.delete(SCHEDULES, "heal", world.namespace, timeout=60)
    assert oci_state(world, status["scheduleId"]) == "DELETED"


def test_replace_cancels_through_the_older_run_and_an_edit_oci_cannot_take_stops_the_schedule(
    world: Scenario, start_operator: Any
) -> None:
    wait_schedules_crd(world.kube)
    world.operator = start_operator(env=OCI_TICKS)
    release = world.release_file("held")
    world.apply(world.job("held", scripts.GATED, env={"RELEASE_FILE": str(release), "GATE_TIMEOUT": "120"}))
    world.wait_job_active("held")
    align(world)
    world.apply(oci_schedule("swap", world.namespace, "held", concurrencyPolicy="Replace"))
    schedule_id = scheduled(world, "swap")["scheduleId"]

    older = advance_minutes(world, 1)
    assert len(older) == 1
    runs = wait_for(lambda: schedule_runs(world, "swap"), timeout=30, message="the first run adopted")
    world.wait_run(runs[0]["metadata"]["name"], "InProgress", timeout=30)
    newer = advance_minutes(world, 1)
    assert len(newer) == 1
    # The older run is canceled through its TrainingJobRun (spec.cancel), the one cancel rule.
    replaced = world.wait_event("swap", "RunReplaced", timeout=30)
    assert runs[0]["metadata"]["name"] in replaced["message"], replaced
    canceled = world.wait_run(runs[0]["metadata"]["name"], "Canceled", timeout=30)
    assert canceled["spec"]["cancel"] is True
    assert world.oci.get_job_run(older[0]).lifecycle_state == "CANCELED"
    assert world.oci.get_job_run(newer[0]).lifecycle_state in ("ACCEPTED", "IN_PROGRESS")

    # An edit engine OCI refuses: the old Schedule stops firing, the phase says why, the runs are
    # still followed.
    patch_schedule(world, "swap", {"timeZone": "Europe/Berlin"})
    failed = wait_for(
        lambda: (s := get_schedule(world, "swap")["status"]).get("phase") == "Failed" and s,
        timeout=30,
        message=lambda: f"phase Failed; {status_summary(get_schedule(world, 'swap'))}",
    )
    assert "spec.timeZone 'Europe/Berlin'" in (condition({"status": failed}, "Stalled") or {}).get(
        "message", ""
    )
    assert oci_state(world, schedule_id) == "INACTIVE"
    assert world.wait_event("swap", "Deactivated", timeout=10)["type"] == "Warning"
    assert world.admin.advance_schedules(3600)["fired"] == []
    release.write_text("go")
    both = wait_for(
        lambda: len(r := schedule_runs(world, "swap")) == 2 and r, timeout=30, message="both runs"
    )
    newer_name = next(
        r["metadata"]["name"] for r in both if r["metadata"]["name"] != runs[0]["metadata"]["name"]
    )
    world.wait_run(newer_name, "Succeeded", timeout=60)


def test_suspend_waits_for_the_oci_schedule_to_leave_creating_and_updating(
    world: Scenario, start_operator: Any
) -> None:
    """Real OCI creates and changes a Schedule asynchronously and answers 409 to a change meanwhile:
    the operator waits it out instead of taking the 409 for "already so"."""
    wait_schedules_crd(world.kube)
    world.operator = start_operator(env=OCI_TICKS)
    world.apply(world.job("quick", scripts.FAIL, env={"EXIT_CODE": "0"}))
    world.wait_job_active("quick")
    world.admin.set_faults({"scheduleTransitions": {"seconds": 4}})
    try:
        world.apply(oci_schedule("slow", world.namespace, "quick", suspend=True))
        schedule_id = scheduled(world, "slow")["scheduleId"]
        wait_for(
            lambda: oci_state(world, schedule_id) == "INACTIVE",
            timeout=30,
            message=lambda: f"deactivated after CREATING; {status_summary(get_schedule(world, 'slow'))}",
        )
        # Resume and a new cron at once: the update holds it UPDATING, then it is activated.
        patch_schedule(world, "slow", {"suspend": False, "schedule": "0 3 * * *"})
        wait_for(
            lambda: (
                (s := world.oci.ds.get_schedule(schedule_id).data).lifecycle_state == "ACTIVE"
                and s.trigger.cron_expression == "0 3 * * *"
            ),
            timeout=40,
            message=lambda: f"updated, then activated; {status_summary(get_schedule(world, 'slow'))}",
        )
        status = wait_for(
            lambda: (
                (s := get_schedule(world, "slow")["status"]).get("phase") == "Active"
                and (condition({"status": s}, "Ready") or {}).get("status") == "True"
                and s
            ),
            timeout=20,
            message="phase Active, Ready",
        )
        assert status["scheduleId"] == schedule_id
    finally:
        world.admin.clear_faults()

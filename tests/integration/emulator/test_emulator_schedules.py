"""Data Science Schedules through the real oci SDK: the API, and firing that really runs jobs.

Firing is driven by the emulator's test-only Schedules clock (POST /_emulator/schedules/clock/advance)
so no test waits for a minute to turn; one test checks the loop fires on its own as the clock passes
a due time.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import oci
import pytest
from emulator_support import make_job, run_details, wait_for, wait_run
from oci.data_science import models as M
from ocids_emulator.testing import RunningEmulator, running_emulator

SCRIPT = b"import os\nprint('scheduled run', os.environ.get('FROM_SCHEDULE'))\n"


def schedule_details(ids: dict[str, str], job_id: str, cron: str = "* * * * *", **overrides: Any) -> Any:
    values: dict[str, Any] = {
        "project_id": ids["PROJECT_ID"],
        "compartment_id": ids["COMPARTMENT_ID"],
        "display_name": "nightly",
        "trigger": M.ScheduleCronTrigger(cron_expression=cron),
        "action": M.ScheduleHttpAction(
            action_details=M.CreateJobRunScheduleActionDetails(
                create_job_run_details=run_details(
                    ids,
                    job_id,
                    display_name="from-schedule",
                    freeform_tags={"ocids.io/schedule-uid": "uid-1"},
                    job_configuration_override_details=M.DefaultJobConfigurationDetails(
                        environment_variables={"FROM_SCHEDULE": "yes"}
                    ),
                )
            )
        ),
        "freeform_tags": {"team": "ml"},
    }
    values.update(overrides)
    return M.CreateScheduleDetails(**values)


def scheduled_runs(client: Any, ids: dict[str, str], job_id: str) -> list[Any]:
    runs = client.list_job_runs(compartment_id=ids["COMPARTMENT_ID"], job_id=job_id).data
    return sorted(runs, key=lambda r: r.time_accepted)


def minute(value: dt.datetime) -> dt.datetime:
    return value.replace(second=0, microsecond=0)


def clock(answer: dict[str, Any]) -> dt.datetime:
    return dt.datetime.fromisoformat(str(answer["now"]).replace("Z", "+00:00"))


def align(emu: RunningEmulator) -> dt.datetime:
    """Put the Schedules clock 5 s past a minute, before any schedule exists: no minute turns in
    real time for the next 55 s, so only advance_schedules fires what a test counts."""
    now = clock(emu.admin.advance_schedules(0))
    return clock(emu.admin.advance_schedules(65 - now.second - now.microsecond / 1e6))


def test_schedule_lifecycle_through_the_sdk(emu: RunningEmulator, client: Any, ids: dict[str, str]) -> None:
    job = make_job(client, ids, SCRIPT)
    now = align(emu)
    created = client.create_schedule(schedule_details(ids, job.id), opc_retry_token="sched-1")
    schedule = created.data
    assert schedule.lifecycle_state == "ACTIVE"
    assert schedule.trigger.cron_expression == "* * * * *"
    assert schedule.action.action_details.create_job_run_details.job_id == job.id
    # The next fire is the next minute boundary, as UNIX cron reads "* * * * *" (in UTC).
    assert schedule.time_next_scheduled_run == minute(now) + dt.timedelta(minutes=1)
    assert schedule.time_last_schedule_run is None
    wr = client.get_work_request(created.headers["opc-work-request-id"]).data
    assert (wr.operation_type, wr.status, wr.resources[0].identifier) == (
        "SCHEDULE_CREATE",
        "SUCCEEDED",
        schedule.id,
    )

    # The same retry token and body give the same schedule, not a second one.
    again = client.create_schedule(schedule_details(ids, job.id), opc_retry_token="sched-1").data
    assert again.id == schedule.id
    listed = client.list_schedules(ids["COMPARTMENT_ID"], project_id=ids["PROJECT_ID"]).data
    assert [s.id for s in listed] == [schedule.id]
    assert listed[0].trigger.cron_expression == "* * * * *"

    # Update in place: a new cron moves the next fire.
    client.update_schedule(
        schedule.id, M.UpdateScheduleDetails(trigger=M.ScheduleCronTrigger(cron_expression="0 3 * * *"))
    )
    updated = client.get_schedule(schedule.id).data
    assert updated.trigger.cron_expression == "0 3 * * *"
    # ... and a new action (the body's `action` field).
    new_action = schedule_details(ids, job.id).action
    new_action.action_details.create_job_run_details.display_name = "renamed"
    client.update_schedule(schedule.id, M.UpdateScheduleDetails(action=new_action))
    renamed = client.get_schedule(schedule.id).data.action.action_details.create_job_run_details
    assert renamed.display_name == "renamed"
    assert (updated.time_next_scheduled_run.hour, updated.time_next_scheduled_run.minute) == (3, 0)

    # Deactivate: no next fire; activating twice is refused, as is deactivating an inactive one.
    client.deactivate_schedule(schedule.id)
    inactive = client.get_schedule(schedule.id).data
    assert inactive.lifecycle_state == "INACTIVE" and inactive.time_next_scheduled_run is None
    with pytest.raises(oci.exceptions.ServiceError) as refused:
        client.deactivate_schedule(schedule.id)
    assert (refused.value.status, refused.value.code) == (409, "IncorrectState")
    assert client.list_schedules(ids["COMPARTMENT_ID"], lifecycle_state="INACTIVE").data[0].id == schedule.id
    client.activate_schedule(schedule.id)
    assert client.get_schedule(schedule.id).data.lifecycle_state == "ACTIVE"

    deleted = client.delete_schedule(schedule.id)
    assert deleted.status == 202 and deleted.headers["opc-work-request-id"]
    assert client.get_schedule(schedule.id).data.lifecycle_state == "DELETED"
    assert client.list_schedules(ids["COMPARTMENT_ID"]).data == []
    with pytest.raises(oci.exceptions.ServiceError) as gone:
        client.update_schedule(schedule.id, M.UpdateScheduleDetails(display_name="x"))
    assert gone.value.status == 404


def test_bad_schedules_are_refused_naming_the_field(client: Any, ids: dict[str, str]) -> None:
    job = make_job(client, ids, SCRIPT)
    with pytest.raises(oci.exceptions.ServiceError) as bad_cron:
        client.create_schedule(schedule_details(ids, job.id, cron="every minute"))
    assert bad_cron.value.status == 400 and "trigger.cronExpression" in bad_cron.value.message
    missing_job = job.id[:-4] + "zzzz"
    with pytest.raises(oci.exceptions.ServiceError) as no_job:
        client.create_schedule(schedule_details(ids, missing_job))
    assert no_job.value.status == 404 and missing_job in no_job.value.message
    assert client.list_schedules(ids["COMPARTMENT_ID"]).data == []


def test_a_schedule_fires_real_runs_with_its_action(
    emu: RunningEmulator, client: Any, ids: dict[str, str]
) -> None:
    job = make_job(client, ids, SCRIPT)
    align(emu)
    schedule = client.create_schedule(schedule_details(ids, job.id)).data
    assert emu.admin.advance_schedules(0)["fired"] == []

    fired = emu.admin.advance_schedules(60)["fired"]
    assert len(fired) == 1
    run = wait_run(client, fired[0])
    assert run.lifecycle_state == "SUCCEEDED"
    # The action's CreateJobRunDetails, as sent: tags, name, overrides; made by the schedule.
    assert run.freeform_tags == {"ocids.io/schedule-uid": "uid-1"}
    assert run.display_name == "from-schedule"
    assert run.created_by == schedule.id
    assert emu.admin.effective_configuration(run.id)["effective"]["jobConfigurationDetails"][
        "environmentVariables"
    ] == {"FROM_JOB": "job", "FROM_SCHEDULE": "yes"}
    after = client.get_schedule(schedule.id).data
    # Accepted when it was made (the clock's now, 5 s past the minute), not backdated to 0 s.
    assert after.time_last_schedule_run == run.time_accepted and run.time_accepted.second == 5
    assert after.time_next_scheduled_run == minute(run.time_accepted) + dt.timedelta(minutes=1)
    assert after.last_schedule_run_details == f"Job run {run.id} created."

    # Two more minutes, one at a time: a run each minute.
    more = [emu.admin.advance_schedules(60)["fired"] for _ in range(2)]
    assert [len(f) for f in more] == [1, 1]
    times = [minute(client.get_job_run(f[0]).data.time_accepted) for f in more]
    assert times == [minute(run.time_accepted) + dt.timedelta(minutes=m) for m in (1, 2)]
    assert len(scheduled_runs(client, ids, job.id)) == 3

    # Inactive: time passes, nothing fires.
    client.deactivate_schedule(schedule.id)
    assert emu.admin.advance_schedules(300)["fired"] == []
    assert len(scheduled_runs(client, ids, job.id)) == 3


def test_missed_occurrences_are_not_backfilled(
    emu: RunningEmulator, client: Any, ids: dict[str, str]
) -> None:
    """Three minutes pass at once (the emulator was down, or the clock jumped): one run, for the
    latest occurrence, accepted now; the two before it are reported as missed, not run late."""
    job = make_job(client, ids, SCRIPT)
    start = align(emu)
    schedule = client.create_schedule(schedule_details(ids, job.id)).data
    answer = emu.admin.advance_schedules(180)
    assert len(answer["fired"]) == 1
    run = client.get_job_run(answer["fired"][0]).data
    latest = minute(start) + dt.timedelta(minutes=3)
    assert latest < run.time_accepted <= clock(answer)
    after = client.get_schedule(schedule.id).data
    first_missed = (minute(start) + dt.timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%S")
    assert after.last_schedule_run_details.startswith(f"Job run {run.id} created. 2 earlier occurrences")
    assert first_missed in after.last_schedule_run_details, after.last_schedule_run_details
    assert after.time_next_scheduled_run == latest + dt.timedelta(minutes=1)
    assert len(scheduled_runs(client, ids, job.id)) == 1


def test_the_loop_fires_when_the_clock_reaches_the_due_time(
    emu: RunningEmulator, client: Any, ids: dict[str, str]
) -> None:
    job = make_job(client, ids, SCRIPT)
    align(emu)
    schedule = client.create_schedule(schedule_details(ids, job.id)).data
    # Put the clock 1.5 s before the due time; the emulator's own loop must fire it.
    now = clock(emu.admin.advance_schedules(0))
    gap = (schedule.time_next_scheduled_run - now).total_seconds() - 1.5
    assert gap > 40 and emu.admin.advance_schedules(gap)["fired"] == []
    runs = wait_for(lambda: scheduled_runs(client, ids, job.id), timeout=10, message="the schedule to fire")
    due = schedule.time_next_scheduled_run
    assert due <= runs[0].time_accepted < due + dt.timedelta(seconds=5)


def test_the_schedule_principal_needs_iam_to_create_runs(
    emu: RunningEmulator, client: Any, ids: dict[str, str]
) -> None:
    """As Oracle's "Scheduler Policies": the schedule's resource principal (a dynamic group on
    resource.type 'datascienceschedule') reads the project and the job and creates the run; and as
    any CreateJobRun, it must be able to use what the run names: the job's log group (with
    automatic log creation: manage) and its content."""
    job = make_job(client, ids, SCRIPT)
    align(emu)
    schedule = client.create_schedule(schedule_details(ids, job.id)).data
    where = f"compartment id {ids['COMPARTMENT_ID']}"
    grants = [
        f"Allow dynamic-group schedules to read data-science-projects in {where}",
        f"Allow dynamic-group schedules to read data-science-jobs in {where}",
        f"Allow dynamic-group schedules to manage data-science-job-runs in {where}",
        f"Allow dynamic-group schedules to manage log-groups in {where}",
        f"Allow dynamic-group schedules to use log-content in {where}",
    ]
    rule = (
        f"ALL {{resource.type = 'datascienceschedule', resource.compartment.id = '{ids['COMPARTMENT_ID']}'}}"
    )
    admins = "Allow group Administrators to manage all-resources in tenancy"
    for missing in grants:
        emu.admin.set_policies(
            [admins, *(g for g in grants if g != missing)], dynamic_groups={"schedules": rule}
        )
        assert emu.admin.advance_schedules(60)["fired"] == []
        details = client.get_schedule(schedule.id).data.last_schedule_run_details
        needs = missing.split(" to ", 1)[1].split(" in ", 1)[0]
        assert "NotAuthorizedOrNotFound" in details and f"needs {needs} in {where}" in details, details
        denial = emu.admin.denials()[-1]
        assert (denial["principalType"], denial["principalId"]) == ("datascienceschedule", schedule.id)
    emu.admin.set_policies([admins, *grants], dynamic_groups={"schedules": rule})
    fired = emu.admin.advance_schedules(60)["fired"]
    assert len(fired) == 1
    assert client.get_schedule(schedule.id).data.last_schedule_run_details == f"Job run {fired[0]} created."


def test_a_run_the_job_cannot_take_is_recorded_not_made(
    client: Any, emu: RunningEmulator, ids: dict[str, str]
) -> None:
    job = make_job(client, ids, SCRIPT)
    schedule = client.create_schedule(schedule_details(ids, job.id)).data
    client.delete_job(job.id)
    wait_for(lambda: client.get_job(job.id).data.lifecycle_state == "DELETED", message="the job deletion")
    assert emu.admin.advance_schedules(60)["fired"] == []
    after = client.get_schedule(schedule.id).data
    assert (
        "could not be created" in after.last_schedule_run_details
        and job.id in after.last_schedule_run_details
    )
    assert after.time_last_schedule_run is not None and after.time_next_scheduled_run is not None


def test_schedules_survive_a_restart_and_fire_after_it(tmp_path: Any) -> None:
    with running_emulator(tmp_path / "emulator") as emu:
        client = emu.datascience_client(retries=False)
        job = make_job(client, emu.ids, SCRIPT)
        due = client.create_schedule(schedule_details(emu.ids, job.id)).data.time_next_scheduled_run
        schedule = client.list_schedules(emu.ids["COMPARTMENT_ID"]).data[0]
        emu.restart()  # the test clock starts again at real time
        client = emu.datascience_client(retries=False)
        assert client.get_schedule(schedule.id).data.lifecycle_state == "ACTIVE"
        gap = (due - clock(emu.admin.advance_schedules(0))).total_seconds()
        if gap > 0:  # else its time passed during the restart and the loop fired it on start
            emu.admin.advance_schedules(gap + 0.5)
        runs = wait_for(lambda: scheduled_runs(client, emu.ids, job.id), message="the run after the restart")
        assert len(runs) == 1 and due <= runs[0].time_accepted < due + dt.timedelta(seconds=50)
        assert wait_run(client, runs[0].id).lifecycle_state == "SUCCEEDED"


def test_schedule_transitions_fault_holds_the_transient_states(
    emu: RunningEmulator, client: Any, ids: dict[str, str]
) -> None:
    """OCI changes a schedule asynchronously: CREATING/UPDATING/DELETING with the work request
    IN_PROGRESS, and a change meanwhile is 409 IncorrectState. The fault makes that observable."""
    job = make_job(client, ids, SCRIPT)
    emu.admin.patch_faults({"scheduleTransitions": {"seconds": 1.5}})
    created = client.create_schedule(schedule_details(ids, job.id))
    schedule = created.data
    assert schedule.lifecycle_state == "CREATING" and schedule.time_next_scheduled_run is None
    wr_id = created.headers["opc-work-request-id"]
    assert client.get_work_request(wr_id).data.status == "IN_PROGRESS"
    for change in (
        lambda: client.deactivate_schedule(schedule.id),
        lambda: client.update_schedule(schedule.id, M.UpdateScheduleDetails(display_name="x")),
        lambda: client.delete_schedule(schedule.id),
    ):
        with pytest.raises(oci.exceptions.ServiceError) as refused:
            change()
        assert (refused.value.status, refused.value.code) == (409, "IncorrectState")
        assert "CREATING" in refused.value.message
    active = wait_for(
        lambda: (s := client.get_schedule(schedule.id).data).lifecycle_state == "ACTIVE" and s,
        timeout=5,
        message="the create to finish",
    )
    assert active.time_next_scheduled_run is not None
    assert client.get_work_request(wr_id).data.status == "SUCCEEDED"

    wr_id = client.deactivate_schedule(schedule.id).headers["opc-work-request-id"]
    assert client.get_schedule(schedule.id).data.lifecycle_state == "UPDATING"
    with pytest.raises(oci.exceptions.ServiceError) as refused:
        client.activate_schedule(schedule.id)
    assert (refused.value.status, refused.value.code) == (409, "IncorrectState")
    assert "UPDATING" in refused.value.message
    wait_for(lambda: client.get_schedule(schedule.id).data.lifecycle_state == "INACTIVE", timeout=5)
    assert client.get_work_request(wr_id).data.status == "SUCCEEDED"

    client.delete_schedule(schedule.id)
    assert client.get_schedule(schedule.id).data.lifecycle_state == "DELETING"
    wait_for(lambda: client.get_schedule(schedule.id).data.lifecycle_state == "DELETED", timeout=5)
    assert client.list_schedules(ids["COMPARTMENT_ID"]).data == []


def test_a_schedule_creator_needs_what_its_run_would_name(
    emu: RunningEmulator, client: Any, ids: dict[str, str]
) -> None:
    """Creating or updating a schedule whose CreateJobRunDetails log to a log group is checked as a
    CreateJobRun with those details: the caller needs the log group and its content too."""
    job = make_job(client, ids, SCRIPT)
    logged = M.ScheduleHttpAction(
        action_details=M.CreateJobRunScheduleActionDetails(
            create_job_run_details=run_details(
                ids,
                job.id,
                job_log_configuration_override_details=M.JobLogConfigurationDetails(
                    enable_logging=True, enable_auto_log_creation=True, log_group_id=ids["LOG_GROUP_ID"]
                ),
            )
        )
    )
    plain = client.create_schedule(schedule_details(ids, job.id)).data
    emu.admin.set_policies(
        [
            "Allow group Administrators to manage data-science-family in tenancy",
            "Allow group Administrators to manage log-groups in tenancy",
        ]
    )
    where = f"compartment id {ids['COMPARTMENT_ID']}"
    for call in (
        lambda: client.create_schedule(schedule_details(ids, job.id, action=logged)),
        lambda: client.update_schedule(plain.id, M.UpdateScheduleDetails(action=logged)),
    ):
        with pytest.raises(oci.exceptions.ServiceError) as denied:
            call()
        assert (denied.value.status, denied.value.code) == (404, "NotAuthorizedOrNotFound")
        assert emu.admin.denials()[-1]["needs"].startswith(f"use log-content in {where}")
    assert [s.id for s in client.list_schedules(ids["COMPARTMENT_ID"]).data] == [plain.id]
    emu.admin.set_policies(["Allow group Administrators to manage all-resources in tenancy"])
    assert (
        client.create_schedule(schedule_details(ids, job.id, action=logged)).data.lifecycle_state == "ACTIVE"
    )

"""The failedRuns fault: the service fails a run for reasons of its own (no exit code), as OCI does
when it is out of capacity: what a client's retry of infrastructure failures is tested against."""

from __future__ import annotations

from emulator_support import make_job, run_details, wait_run

OUT_OF_CAPACITY = "Job run failed: out of host capacity for shape VM.Standard.E4.Flex."


def test_next_run_fails_without_exit_code_and_the_one_after_runs(emu, ids, client):
    job = make_job(client, ids, artifact=b"print('ran', flush=True)\n")
    emu.admin.fail_runs(next_runs=1, lifecycle_details=OUT_OF_CAPACITY)
    failed = client.create_job_run(run_details(ids, job.id)).data
    assert failed.lifecycle_state == "ACCEPTED"  # the create answers as OCI's would
    done = wait_run(client, failed.id)
    assert (done.lifecycle_state, done.lifecycle_details) == ("FAILED", OUT_OF_CAPACITY)
    assert done.time_finished is not None

    after = client.create_job_run(run_details(ids, job.id)).data
    assert wait_run(client, after.id).lifecycle_state == "SUCCEEDED"
    assert emu.admin.get_faults()["failedRuns"]["nextRuns"] == 0


def test_running_run_named_fails_at_once(emu, ids, client):
    job = make_job(client, ids, artifact=b"import time\nprint('up', flush=True)\ntime.sleep(300)\n")
    run = client.create_job_run(run_details(ids, job.id)).data
    wait_run(client, run.id, {"IN_PROGRESS"})
    emu.admin.fail_runs(run.id)
    done = wait_run(client, run.id)
    assert done.lifecycle_state == "FAILED"
    assert "exit code" not in done.lifecycle_details
    assert done.lifecycle_details.startswith("Job run failed:")


def test_timeout_kind_reads_as_a_timeout(emu, ids, client):
    job = make_job(client, ids, artifact=b"import time\ntime.sleep(300)\n")
    emu.admin.fail_runs(next_runs=1, kind="timeout")
    run = client.create_job_run(run_details(ids, job.id)).data
    done = wait_run(client, run.id)
    assert done.lifecycle_state == "FAILED"
    assert done.lifecycle_details.startswith(
        "Job run timed out: the artifact ran longer than maximumRuntimeInMinutes"
    )


def test_a_run_a_schedule_makes_takes_the_fault_too(emu, ids, client):
    """`nextRuns` counts every run made, by CreateJobRun or by a schedule firing (OCI fails either)."""
    from test_emulator_schedules import align, schedule_details

    job = make_job(client, ids, artifact=b"print('ran', flush=True)\n")
    align(emu)
    client.create_schedule(schedule_details(ids, job.id))
    emu.admin.fail_runs(next_runs=1, lifecycle_details=OUT_OF_CAPACITY)
    [fired] = emu.admin.advance_schedules(60)["fired"]
    done = wait_run(client, fired)
    assert (done.lifecycle_state, done.lifecycle_details) == ("FAILED", OUT_OF_CAPACITY)
    assert emu.admin.get_faults()["failedRuns"]["nextRuns"] == 0

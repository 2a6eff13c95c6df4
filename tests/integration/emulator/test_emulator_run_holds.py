"""Runs OCI holds: stuck CANCELING, and NEEDS_ATTENTION refusing cancel until the fault is cleared."""

from __future__ import annotations

import time

import oci
import pytest
from emulator_support import make_job, run_details, wait_run
from oci.data_science import models as M

ATTENTION = "Job run needs attention: the shape is out of capacity."


def _state(client, run_id: str) -> tuple[str, str]:
    run = client.get_job_run(run_id).data
    return run.lifecycle_state, run.lifecycle_details


def _stays(client, run_id: str, state: str, seconds: float = 1.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert _state(client, run_id)[0] == state
        time.sleep(0.1)


def test_cancel_stays_canceling_until_released(emu, ids, client):
    job = make_job(client, ids, artifact=b"import time\nprint('up', flush=True)\ntime.sleep(300)\n")
    stuck = client.create_job_run(run_details(ids, job.id)).data
    free = client.create_job_run(run_details(ids, job.id)).data
    wait_run(client, stuck.id, {"IN_PROGRESS"})
    wait_run(client, free.id, {"IN_PROGRESS"})

    emu.admin.hold_canceling(stuck.id)
    assert client.cancel_job_run(stuck.id).status == 202
    assert client.cancel_job_run(free.id).status == 202
    assert wait_run(client, free.id).lifecycle_state == "CANCELED"
    _stays(client, stuck.id, "CANCELING", seconds=1.5)
    assert _state(client, stuck.id)[1] == "Job run cancellation in progress."
    assert client.cancel_job_run(stuck.id).status == 202  # canceling again is accepted, as before

    emu.admin.release_canceling()
    done = wait_run(client, stuck.id)
    assert (done.lifecycle_state, done.lifecycle_details) == ("CANCELED", "Job run canceled.")
    assert done.time_finished is not None


def test_needs_attention_refuses_cancel_until_cleared(emu, ids, client):
    emu.admin.set_simulated("30:0")
    job = make_job(client, ids, artifact=b"print(1)\n")
    run = client.create_job_run(run_details(ids, job.id)).data
    wait_run(client, run.id, {"IN_PROGRESS"})

    emu.admin.needs_attention(run.id, lifecycle_details=ATTENTION)
    assert _state(client, run.id) == ("NEEDS_ATTENTION", ATTENTION)
    with pytest.raises(oci.exceptions.ServiceError) as err:
        client.cancel_job_run(run.id)
    assert (err.value.status, err.value.code) == (409, "IncorrectState")
    # A job with a run that needs attention cannot be deleted either (the run is active).
    with pytest.raises(oci.exceptions.ServiceError) as err:
        client.delete_job(job.id, delete_related_job_runs=True)
    assert err.value.code == "IncorrectState"

    emu.admin.clear_needs_attention()
    assert _state(client, run.id)[0] == "IN_PROGRESS"
    assert client.cancel_job_run(run.id).status == 202
    assert wait_run(client, run.id).lifecycle_state == "CANCELED"


def test_next_run_needs_attention_and_its_outcome_waits(emu, ids, client):
    job = make_job(
        client,
        ids,
        artifact=b"print(1)\n",
        job_configuration_details=M.DefaultJobConfigurationDetails(
            environment_variables={"OCIDS_EMULATOR_SIMULATE": "0.3:0"}
        ),
    )
    emu.admin.needs_attention(next_runs=1)
    created = client.create_job_run(run_details(ids, job.id)).data
    assert created.lifecycle_state == "ACCEPTED"
    held = wait_run(client, created.id, {"NEEDS_ATTENTION"})
    assert held.lifecycle_details == emu.admin.get_faults()["needsAttention"]["lifecycleDetails"]
    # Only the next run: the one after runs normally.
    assert wait_run(client, client.create_job_run(run_details(ids, job.id)).data.id).lifecycle_state == (
        "SUCCEEDED"
    )
    # The held run's execution (0.3 s) ended meanwhile; its outcome waits for the fault to clear.
    _stays(client, created.id, "NEEDS_ATTENTION", seconds=1.0)
    emu.admin.clear_faults()
    done = wait_run(client, created.id)
    assert done.lifecycle_state == "SUCCEEDED" and done.time_finished is not None

"""State survives restarts; injected faults are absorbed by the SDK's default retries."""

from __future__ import annotations

import oci
import pytest
from emulator_support import job_details, make_job, messages, run_details, wait_run
from ocids_emulator.core.emulator import RESTART_DETAILS


@pytest.mark.parametrize("hard", [False, True], ids=["sigterm", "sigkill"])
def test_restart_keeps_state(emu, ids, hard):
    client = emu.datascience_client(retries=False)
    job = make_job(client, ids, artifact=b"print('persisted line')\n", display_name="kept")
    done = wait_run(client, client.create_job_run(run_details(ids, job.id)).data.id)
    token_body = job_details(ids, display_name="token-job")
    token_job = client.create_job(token_body, opc_retry_token="survives").data
    sleeper = make_job(client, ids, artifact=b"import time\nprint('up', flush=True)\ntime.sleep(300)\n")
    running = client.create_job_run(run_details(ids, sleeper.id)).data
    wait_run(client, running.id, {"IN_PROGRESS"})
    endpoint = emu.endpoint

    emu.restart(hard=hard)
    assert emu.endpoint == endpoint
    client = emu.datascience_client(retries=False)

    assert client.get_job(job.id).data.display_name == "kept"
    assert client.get_job_artifact_content(job.id).data.content == b"print('persisted line')\n"
    assert client.get_job_run(done.id).data.lifecycle_state == "SUCCEEDED"
    assert messages(emu, ids, done) == ["persisted line"]
    assert client.create_job(token_body, opc_retry_token="survives").data.id == token_job.id
    interrupted = client.get_job_run(running.id).data
    assert interrupted.lifecycle_state == "FAILED"
    assert interrupted.lifecycle_details == RESTART_DETAILS
    assert interrupted.time_finished is not None
    # The job stays usable after a restart.
    assert (
        wait_run(client, client.create_job_run(run_details(ids, job.id)).data.id).lifecycle_state
        == "SUCCEEDED"
    )


def test_injected_errors_are_absorbed_by_default_retries(emu, ids):
    quiet = emu.datascience_client(retries=False)
    job = make_job(quiet, ids, artifact=b"print(1)\n")
    run = quiet.create_job_run(run_details(ids, job.id)).data
    emu.admin.set_faults(
        {
            "errors": [
                {"operation": "get_job_run", "status": 503, "count": 1},
                {"operation": "get_job_run", "status": 429, "count": 1},
                {"operation": "list_job_runs", "status": 500, "count": 1},
            ]
        }
    )
    with pytest.raises(oci.exceptions.ServiceError) as err:
        quiet.get_job_run(run.id)
    assert (err.value.status, err.value.code) == (503, "ServiceUnavailable")

    retrying = emu.datascience_client()  # the SDK's default retry strategy
    assert retrying.get_job_run(run.id).data.id == run.id
    assert [r.id for r in retrying.list_job_runs(compartment_id=ids["COMPARTMENT_ID"]).data] == [run.id]
    assert emu.admin.get_faults()["injected"] == 3


def test_latency_and_active_run_cap(emu, ids):
    import time

    client = emu.datascience_client(retries=False)
    emu.admin.set_simulated("30:0")
    job = make_job(client, ids, artifact=b"print(1)\n")
    emu.admin.set_faults({"maxActiveRuns": 2, "latencyMs": {"get_job": 300}})
    started = time.monotonic()
    client.get_job(job.id)
    assert time.monotonic() - started >= 0.3
    for _ in range(2):
        client.create_job_run(run_details(ids, job.id))
    with pytest.raises(oci.exceptions.ServiceError) as err:
        client.create_job_run(run_details(ids, job.id))
    assert (err.value.status, err.value.code) == (400, "LimitExceeded")
    emu.admin.clear_faults()
    assert client.create_job_run(run_details(ids, job.id)).data.lifecycle_state == "ACCEPTED"


def test_fault_flags_on_the_command_line(tmp_path):
    from ocids_emulator.testing import running_emulator

    with running_emulator(tmp_path / "emu", extra_args=["--fault", "list_jobs=429:1.0:1"]) as emu:
        client = emu.datascience_client(retries=False)
        with pytest.raises(oci.exceptions.ServiceError) as err:
            client.list_jobs(compartment_id=emu.ids["COMPARTMENT_ID"])
        assert (err.value.status, err.value.code) == (429, "TooManyRequests")
        assert client.list_jobs(compartment_id=emu.ids["COMPARTMENT_ID"]).status == 200

"""OCI's IAM denial and eventual consistency, injected through /_emulator/faults and --deny."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import oci
import pytest
from emulator_support import job_details, make_job, run_details, wait_for
from ocids_emulator.testing import running_emulator

DENIED = (404, "NotAuthorizedOrNotFound", "Authorization failed or requested resource not found.")


def _error(call, *args, **kwargs) -> oci.exceptions.ServiceError:
    with pytest.raises(oci.exceptions.ServiceError) as err:
        call(*args, **kwargs)
    return err.value


def _denied(call, *args, **kwargs) -> None:
    err = _error(call, *args, **kwargs)
    assert (err.status, err.code, err.message) == DENIED
    assert err.request_id and err.headers["content-type"] == "application/json"


def test_denial_answers_ocis_404_for_the_named_operations_and_resources(emu, ids, client):
    emu.admin.set_simulated("30:0")
    job = make_job(client, ids, artifact=b"print(1)\n")
    denied_run = client.create_job_run(run_details(ids, job.id)).data
    other_run = client.create_job_run(run_details(ids, job.id)).data

    emu.admin.deny("get_job_run", "cancel_job_run", resource_ids=[denied_run.id])
    emu.admin.deny("delete_job", count=1)
    _denied(client.get_job_run, denied_run.id)
    _denied(client.cancel_job_run, denied_run.id)
    assert client.get_job_run(other_run.id).data.lifecycle_state in {"ACCEPTED", "IN_PROGRESS"}
    _denied(client.delete_job, job.id, delete_related_job_runs=True)
    # count=1 is spent: the next delete reaches the job (which still has active runs).
    assert _error(client.delete_job, job.id).code == "IncorrectState"

    # OCI authenticates before it authorizes: an unsigned call is still 401, not the denial.
    with pytest.raises(urllib.error.HTTPError) as unsigned:
        urllib.request.urlopen(f"{emu.endpoint}/20190101/jobRuns/{denied_run.id}", timeout=10)
    assert unsigned.value.code == 401

    emu.admin.deny("create_job_run", "get_job", resource_ids=[job.id])
    _denied(client.create_job_run, run_details(ids, job.id))
    _denied(client.get_job, job.id)
    faults = emu.admin.get_faults()
    assert [d["operation"] for d in faults["denials"]] == [
        "get_job_run",
        "cancel_job_run",
        "delete_job",
        "create_job_run",
        "get_job",
    ]
    assert faults["injected"] == 5
    assert emu.admin.stats()["operations"]["get_job_run"]["byStatus"]["404"] == 1

    emu.admin.clear_faults()
    assert client.get_job(job.id).status == 200
    assert client.cancel_job_run(denied_run.id).status == 202


def test_denial_from_the_command_line(tmp_path):
    with running_emulator(tmp_path / "emu", extra_args=["--deny", "list_jobs:1"]) as emu:
        client = emu.datascience_client(retries=False)
        _denied(client.list_jobs, compartment_id=emu.ids["COMPARTMENT_ID"])
        assert client.list_jobs(compartment_id=emu.ids["COMPARTMENT_ID"]).status == 200


def test_bad_denial_spec_is_refused(emu):
    request = urllib.request.Request(
        f"{emu.endpoint}/_emulator/faults",
        data=json.dumps({"denials": [{"resourceIds": ["x"]}]}).encode(),
        method="PATCH",
        headers={"content-type": "application/json"},
    )
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(request, timeout=10)
    assert err.value.code == 400


def test_reads_right_after_create_answer_404_for_some_calls(emu, ids, client):
    emu.admin.not_found_after_create(calls=2)
    job = client.create_job(job_details(ids, display_name="lagging")).data
    _denied(client.get_job, job.id)
    _denied(client.get_job, job.id)
    assert client.get_job(job.id).data.display_name == "lagging"
    # Lists are not affected, and neither are resources created before the fault.
    assert job.id in [j.id for j in client.list_jobs(compartment_id=ids["COMPARTMENT_ID"]).data]


def test_reads_right_after_create_answer_404_for_some_seconds(emu, ids, client):
    emu.admin.set_simulated("30:0")
    job = make_job(client, ids, artifact=b"print(1)\n")
    emu.admin.not_found_after_create(seconds=1.0)
    run = client.create_job_run(run_details(ids, job.id)).data
    assert client.get_job(job.id).status == 200  # created before the fault
    _denied(client.get_job_run, run.id)
    wait_for(lambda: _visible(client, run.id), timeout=10, message="the new run to become readable")
    emu.admin.clear_faults()
    assert client.get_job_run(run.id).status == 200


def _visible(client, run_id: str) -> bool:
    try:
        return client.get_job_run(run_id).status == 200
    except oci.exceptions.ServiceError as err:
        assert (err.status, err.code) == DENIED[:2]
        return False

"""Jobs: lifecycle, etags, updates, deletion through a work request, state conflicts, shapes."""

from __future__ import annotations

import oci
import pytest
from emulator_support import infrastructure, job_details, make_job, run_details, wait_for, wait_run
from oci.data_science import models as M


def _error(call, *args, **kwargs) -> oci.exceptions.ServiceError:
    with pytest.raises(oci.exceptions.ServiceError) as err:
        call(*args, **kwargs)
    assert err.value.request_id
    return err.value


def test_job_fields_etag_and_update(emu, ids, client):
    created = client.create_job(
        job_details(ids, description="d", freeform_tags={"team": "ml"}, display_name="original")
    )
    job = created.data
    assert created.headers["etag"] and created.headers["opc-request-id"]
    assert job.lifecycle_state == "CREATING"
    assert job.created_by == ids["USER_ID"]
    assert job.job_infrastructure_configuration_details.job_infrastructure_type == "STANDALONE"
    assert job.job_configuration_details.job_type == "DEFAULT"

    err = _error(client.update_job, job.id, M.UpdateJobDetails(display_name="x"), if_match="stale")
    assert (err.status, err.code) == (412, "NoEtagMatch")

    updated = client.update_job(
        job.id,
        M.UpdateJobDetails(
            display_name="renamed",
            freeform_tags={"team": "ai"},
            job_infrastructure_configuration_details=infrastructure(
                ids, job_shape_config_details=M.JobShapeConfigDetails(ocpus=2.0, memory_in_gbs=32.0)
            ),
        ),
        if_match=created.headers["etag"],
    )
    assert updated.headers["etag"] != created.headers["etag"]
    job = updated.data
    assert job.display_name == "renamed" and job.freeform_tags == {"team": "ai"}
    assert job.description == "d"
    assert job.job_infrastructure_configuration_details.job_shape_config_details.ocpus == 2.0


def test_update_rejects_fields_that_cannot_change(emu, ids, client):
    job = make_job(client, ids, artifact=b"print(1)\n")
    # The SDK's UpdateJobDetails cannot even express it; a raw body can, and is refused.
    err = _error(
        client.base_client.call_api,
        resource_path="/jobs/{jobId}",
        method="PUT",
        path_params={"jobId": job.id},
        header_params={"accept": "application/json", "content-type": "application/json"},
        body={"jobConfigurationDetails": {"jobType": "DEFAULT", "maximumRuntimeInMinutes": 5}},
        response_type="Job",
    )
    assert (err.status, err.code) == (400, "InvalidParameter")
    assert "jobConfigurationDetails" in err.message


def test_runs_need_an_active_job_and_artifact_is_uploaded_once(emu, ids, client):
    job = make_job(client, ids)
    err = _error(client.create_job_run, run_details(ids, job.id))
    assert (err.status, err.code) == (409, "IncorrectState")
    client.create_job_artifact(job.id, b"print(1)\n", content_disposition="attachment; filename=a.py")
    err = _error(
        client.create_job_artifact, job.id, b"print(2)\n", content_disposition="attachment; filename=a.py"
    )
    assert (err.status, err.code) == (409, "Conflict")
    assert client.get_job_artifact_content(job.id).data.content == b"print(1)\n"


def test_streamed_artifact_upload(emu, ids, client, tmp_path):
    path = tmp_path / "big.py"
    path.write_bytes(b"# " + b"x" * (5 * 1024 * 1024) + b"\nprint('big ok')\n")
    job = make_job(client, ids)
    with path.open("rb") as stream:
        client.create_job_artifact(job.id, stream, content_disposition="attachment; filename=big.py")
    assert client.head_job_artifact(job.id).headers["content-length"] == str(path.stat().st_size)
    run = wait_run(client, client.create_job_run(run_details(ids, job.id)).data.id)
    assert run.lifecycle_state == "SUCCEEDED"


def test_delete_job_rules_and_work_request(emu, ids, client):
    emu.admin.set_simulated("30:0")
    job = make_job(client, ids, artifact=b"print(1)\n")
    run = client.create_job_run(run_details(ids, job.id)).data

    err = _error(client.delete_job, job.id, delete_related_job_runs=True)
    assert (err.status, err.code) == (409, "IncorrectState")
    err = _error(client.delete_job_run, run.id)
    assert (err.status, err.code) == (409, "IncorrectState")

    client.cancel_job_run(run.id)
    wait_run(client, run.id)
    err = _error(client.delete_job, job.id)
    assert (err.status, err.code) == (409, "Conflict")

    response = client.delete_job(job.id, delete_related_job_runs=True)
    assert response.status == 202
    wr_id = response.headers["opc-work-request-id"]
    work_request = client.get_work_request(wr_id).data
    assert work_request.operation_type == "JOB_DELETE"
    assert work_request.resources[0].identifier == job.id
    wait_for(lambda: client.get_work_request(wr_id).data.status == "SUCCEEDED", message="work request")
    assert client.get_job(job.id).data.lifecycle_state == "DELETED"
    assert client.get_job_run(run.id).data.lifecycle_state == "DELETED"
    listed = client.list_work_requests(ids["COMPARTMENT_ID"], operation_type="JOB_DELETE").data
    assert [w.id for w in listed] == [wr_id]

    err = _error(client.create_job_run, run_details(ids, job.id))
    assert (err.status, err.code) == (404, "NotAuthorizedOrNotFound")
    assert job.id not in {j.id for j in client.list_jobs(compartment_id=ids["COMPARTMENT_ID"]).data}


def test_run_update_and_delete(emu, ids, client):
    job = make_job(client, ids, artifact=b"print(1)\n")
    run = wait_run(client, client.create_job_run(run_details(ids, job.id, freeform_tags={"a": "1"})).data.id)
    err = _error(client.update_job_run, run.id, M.UpdateJobRunDetails(display_name="x"), if_match="nope")
    assert (err.status, err.code) == (412, "NoEtagMatch")
    updated = client.update_job_run(
        run.id, M.UpdateJobRunDetails(display_name="renamed", freeform_tags={"b": "2"})
    )
    assert updated.data.display_name == "renamed" and updated.data.freeform_tags == {"b": "2"}
    assert updated.data.lifecycle_state == "SUCCEEDED"
    assert client.delete_job_run(run.id).status == 204
    assert client.get_job_run(run.id).data.lifecycle_state == "DELETED"


def test_job_shapes_and_project(emu, ids, client):
    shapes = oci.pagination.list_call_get_all_results(client.list_job_shapes, ids["COMPARTMENT_ID"]).data
    names = {s.name for s in shapes}
    assert {"VM.Standard.E4.Flex", "VM.Standard2.1", "BM.GPU.H100.8"} <= names
    assert all(s.shape_series != "UNKNOWN_ENUM_VALUE" for s in shapes)
    assert client.get_project(ids["PROJECT_ID"]).data.compartment_id == ids["COMPARTMENT_ID"]


def test_list_jobs_filters(emu, ids, client):
    first = make_job(client, ids, artifact=b"print(1)\n", display_name="alpha")
    make_job(client, ids, display_name="beta")
    listed = client.list_jobs(compartment_id=ids["COMPARTMENT_ID"], display_name="alpha").data
    assert [j.id for j in listed] == [first.id]
    creating = client.list_jobs(compartment_id=ids["COMPARTMENT_ID"], lifecycle_state="CREATING").data
    assert [j.display_name for j in creating] == ["beta"]
    by_name = client.list_jobs(
        compartment_id=ids["COMPARTMENT_ID"], sort_by="displayName", sort_order="DESC"
    ).data
    assert [j.display_name for j in by_name] == ["beta", "alpha"]

"""What OCI does on its side: deletions whose work request fails later, defaults it fills in."""

from __future__ import annotations

from emulator_support import infrastructure, job_details, make_job, run_details, wait_for
from oci.data_science import models as M


def _work_request(client, wr_id: str, status: str):
    return wait_for(
        lambda: (wr := client.get_work_request(wr_id).data).status == status and wr,
        message=f"work request {wr_id} to be {status}",
    )


def test_deletion_accepted_then_failed_keeps_the_job(emu, ids, client):
    job = make_job(client, ids, artifact=b"print(1)\n")
    other = make_job(client, ids, artifact=b"print(1)\n")
    emu.admin.fail_job_deletes(job.id, count=1, message="Deletion failed: the job is locked.")

    accepted = client.delete_job(job.id)
    assert accepted.status == 202
    wr = _work_request(client, accepted.headers["opc-work-request-id"], "FAILED")
    assert wr.operation_type == "JOB_DELETE" and wr.time_finished is not None
    errors = client.list_work_request_errors(wr.id).data
    assert [e.message for e in errors] == ["Deletion failed: the job is locked."]
    assert client.get_job(job.id).data.lifecycle_state == "ACTIVE"

    # Other jobs, and the same job once the count is spent, are deleted as usual.
    for target in (other.id, job.id):
        wr_id = client.delete_job(target).headers["opc-work-request-id"]
        _work_request(client, wr_id, "SUCCEEDED")
        assert client.get_job(target).data.lifecycle_state == "DELETED"
    assert emu.admin.get_faults()["failedJobDeletes"]["count"] == 0


def test_flex_memory_and_mount_path_are_filled_in(emu, ids, client):
    only_ocpus = M.JobShapeConfigDetails(ocpus=2.0)
    mount = M.ObjectStorageMountConfigurationDetails(
        namespace=ids["OBJECT_STORAGE_NAMESPACE"],
        bucket=ids["OBJECT_STORAGE_BUCKET"],
        destination_directory_name="data",
    )
    body = job_details(
        ids,
        job_infrastructure_configuration_details=infrastructure(ids, job_shape_config_details=only_ocpus),
        job_storage_mount_configuration_details_list=[mount],
    )
    created = client.create_job(body, opc_retry_token="defaults").data
    shape = created.job_infrastructure_configuration_details.job_shape_config_details
    assert (shape.ocpus, shape.memory_in_gbs) == (2.0, 32.0)
    assert created.job_storage_mount_configuration_details_list[0].destination_path == "/mnt"
    # The retry token still recognises the body as the client sent it.
    assert client.create_job(body, opc_retry_token="defaults").data.id == created.id

    arm = infrastructure(ids, shape_name="VM.Standard.A1.Flex", job_shape_config_details=only_ocpus)
    job = make_job(client, ids, artifact=b"print(1)\n")
    emu.admin.set_simulated("0:0")
    run = client.create_job_run(
        run_details(ids, job.id, job_infrastructure_configuration_override_details=arm)
    ).data
    assert run.job_infrastructure_configuration_details.job_shape_config_details.memory_in_gbs == 12.0
    given = M.JobShapeConfigDetails(ocpus=2.0, memory_in_gbs=20.0)
    updated = client.update_job(
        job.id,
        M.UpdateJobDetails(
            job_infrastructure_configuration_details=infrastructure(ids, job_shape_config_details=given)
        ),
    ).data
    assert updated.job_infrastructure_configuration_details.job_shape_config_details.memory_in_gbs == 20.0

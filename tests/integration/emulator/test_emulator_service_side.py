"""What OCI does on its side: deletions whose work request fails later."""

from __future__ import annotations

from emulator_support import make_job, wait_for


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

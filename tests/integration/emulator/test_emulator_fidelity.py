"""Smaller fidelity fixes, through the real SDK: the work-request resourceId filter, Range on artifact
downloads, and the answer for an endpoint the emulator does not implement."""

from __future__ import annotations

import oci
import pytest
from emulator_support import make_job, wait_for
from ocids_emulator.testing import RunningEmulator
from sdk_contract import recording

ARTIFACT = b"print('0123456789')\n"  # 20 bytes


def _deleted(client: object, job_id: str) -> str:
    response = client.delete_job(job_id)  # type: ignore[attr-defined]
    work_request = response.headers["opc-work-request-id"]
    wait_for(
        lambda: client.get_work_request(work_request).data.status == "SUCCEEDED",  # type: ignore[attr-defined]
        message=f"deletion of {job_id}",
    )
    return str(work_request)


def test_list_work_requests_filters_by_resource_id(emu: RunningEmulator) -> None:
    client = emu.datascience_client(retries=False)
    ids = emu.ids
    first, second = make_job(client, ids, ARTIFACT), make_job(client, ids, ARTIFACT)
    first_wr, second_wr = _deleted(client, first.id), _deleted(client, second.id)
    compartment = ids["COMPARTMENT_ID"]

    assert {w.id for w in client.list_work_requests(compartment).data} == {first_wr, second_wr}
    [only] = client.list_work_requests(compartment, resource_id=first.id).data
    assert (only.id, only.resources[0].identifier) == (first_wr, first.id)
    assert client.list_work_requests(compartment, resource_id="ocid1.datasciencejob.oc1.iad.other").data == []
    # With the other filters, all must hold.
    assert client.list_work_requests(compartment, resource_id=second.id, status="FAILED").data == []


def test_artifact_download_honours_range(emu: RunningEmulator) -> None:
    client = emu.datascience_client(retries=False)
    job = make_job(client, emu.ids, ARTIFACT)

    whole = client.get_job_artifact_content(job.id)
    assert (whole.status, whole.data.content) == (200, ARTIFACT)

    part = client.get_job_artifact_content(job.id, range="bytes=7-16")
    assert (part.status, part.data.content) == (206, b"0123456789")
    assert part.headers["content-range"] == "bytes 7-16/20"
    tail = client.get_job_artifact_content(job.id, range="bytes=-3")
    assert (tail.data.content, tail.headers["content-range"]) == (b"')\n", "bytes 17-19/20")
    rest = client.get_job_artifact_content(job.id, range="bytes=15-")
    assert (rest.data.content, rest.headers["content-range"]) == (b"89')\n", "bytes 15-19/20")

    with pytest.raises(oci.exceptions.ServiceError) as beyond:
        client.get_job_artifact_content(job.id, range="bytes=20-")
    assert (beyond.value.status, beyond.value.code) == (416, "InvalidRange")
    assert beyond.value.headers["content-range"] == "bytes */20"
    with pytest.raises(oci.exceptions.ServiceError) as two:
        client.get_job_artifact_content(job.id, range="bytes=0-1,4-5")
    assert (two.value.status, two.value.code) == (400, "InvalidParameter")
    assert "range" in two.value.message


def test_an_unimplemented_endpoint_says_so_and_never_reads_like_an_auth_failure(emu: RunningEmulator) -> None:
    client = emu.datascience_client(retries=False)
    compartment = emu.ids["COMPARTMENT_ID"]
    calls = {
        # A resource type the emulator does not serve at all, a list of them, and an OCI method on a
        # path it serves for other methods (DeleteProject).
        "GET /20190101/models/": lambda: client.get_model("ocid1.datasciencemodel.oc1.iad.x"),
        "GET /20190101/notebookSessions": lambda: client.list_notebook_sessions(compartment_id=compartment),
        "DELETE /20190101/projects/": lambda: client.delete_project(emu.ids["PROJECT_ID"]),
    }
    for what, call in calls.items():
        with pytest.raises(oci.exceptions.ServiceError) as refused:
            call()
        error = refused.value
        assert (error.status, error.code) == (501, "MethodNotImplemented"), what
        assert error.message.startswith(f"The ocids-emulator does not implement {what}"), error.message
    # The SDK does not retry a 501, so one call is one request (the default retry strategy is on here).
    retrying = emu.datascience_client()
    with recording(retrying) as recorder, pytest.raises(oci.exceptions.ServiceError):
        retrying.get_model("ocid1.datasciencemodel.oc1.iad.y")
    assert len(recorder.bodies) == 1
    # A real resource that does not exist still answers as OCI does.
    with pytest.raises(oci.exceptions.ServiceError) as missing:
        client.get_job("ocid1.datasciencejob.oc1.iad.nope")
    assert (missing.value.status, missing.value.code) == (404, "NotAuthorizedOrNotFound")

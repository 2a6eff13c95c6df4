"""opc-retry-token idempotency and opc-next-page pagination over many runs."""

from __future__ import annotations

import oci
import pytest
from emulator_support import job_details, make_job, run_details, wait_for
from ocids_emulator.testing import running_emulator


def test_retry_token_returns_the_same_resource(emu, ids, client):
    body = job_details(ids, display_name="once")
    first = client.create_job(body, opc_retry_token="token-1").data
    again = client.create_job(body, opc_retry_token="token-1").data
    assert again.id == first.id
    named = client.list_jobs(compartment_id=ids["COMPARTMENT_ID"], display_name="once").data
    assert len(named) == 1

    with pytest.raises(oci.exceptions.ServiceError) as err:
        client.create_job(job_details(ids, display_name="different"), opc_retry_token="token-1")
    assert (err.value.status, err.value.code) == (409, "InvalidatedRetryToken")

    client.create_job_artifact(first.id, b"print(1)\n", content_disposition="attachment; filename=a.py")
    run_body = run_details(ids, first.id, display_name="r")
    run = client.create_job_run(run_body, opc_retry_token="run-token").data
    assert client.create_job_run(run_body, opc_retry_token="run-token").data.id == run.id
    runs = client.list_job_runs(compartment_id=ids["COMPARTMENT_ID"], job_id=first.id).data
    assert [r.id for r in runs] == [run.id]


def test_pagination_over_250_runs(tmp_path):
    with running_emulator(tmp_path / "emu", simulated="0:0") as emu:
        client, ids = emu.datascience_client(), emu.ids
        job = make_job(client, ids, artifact=b"print(1)\n")
        created = {
            client.create_job_run(run_details(ids, job.id, display_name=f"r{i:03d}")).data.id
            for i in range(250)
        }

        first_page = client.list_job_runs(compartment_id=ids["COMPARTMENT_ID"], job_id=job.id, limit=100)
        assert len(first_page.data) == 100 and first_page.headers["opc-next-page"]

        everything = oci.pagination.list_call_get_all_results(
            client.list_job_runs, compartment_id=ids["COMPARTMENT_ID"], job_id=job.id, limit=37
        ).data
        assert len(everything) == 250
        assert {r.id for r in everything} == created
        times = [r.time_accepted for r in everything]
        assert times == sorted(times, reverse=True)  # OCI's default: newest first

        by_name = oci.pagination.list_call_get_all_results(
            client.list_job_runs, compartment_id=ids["COMPARTMENT_ID"], sort_by="displayName", limit=100
        ).data
        assert [r.display_name for r in by_name] == [f"r{i:03d}" for i in range(250)]

        wait_for(
            lambda: (
                len(
                    oci.pagination.list_call_get_all_results(
                        client.list_job_runs,
                        compartment_id=ids["COMPARTMENT_ID"],
                        lifecycle_state="SUCCEEDED",
                    ).data
                )
                == 250
            ),
            message="all simulated runs to succeed",
        )

"""Logging management: log groups and logs created through the SDK, and a job writing to a given log."""

from __future__ import annotations

import oci
import pytest
from emulator_support import make_job, run_details, search, wait_run
from oci.data_science import models as M
from oci.logging import models as L


def test_created_log_receives_job_output(emu, ids, client):
    logging_client = emu.logging_client()
    created = logging_client.create_log_group(
        L.CreateLogGroupDetails(compartment_id=ids["COMPARTMENT_ID"], display_name="training")
    )
    work_request = logging_client.get_work_request(created.headers["opc-work-request-id"]).data
    assert work_request.status == "SUCCEEDED" and work_request.operation_type == "CREATE_LOG_GROUP"
    group_id = work_request.resources[0].identifier
    created = logging_client.create_log(group_id, L.CreateLogDetails(display_name="runs", log_type="CUSTOM"))
    log_id = (
        logging_client.get_work_request(created.headers["opc-work-request-id"]).data.resources[0].identifier
    )
    groups = oci.pagination.list_call_get_all_results(
        logging_client.list_log_groups, ids["COMPARTMENT_ID"], display_name="training"
    ).data
    assert [g.id for g in groups] == [group_id]
    assert logging_client.get_log(group_id, log_id).data.display_name == "runs"

    job = make_job(
        client,
        ids,
        artifact=b"print('to the named log')\n",
        job_log_configuration_details=M.JobLogConfigurationDetails(
            enable_logging=True, enable_auto_log_creation=False, log_group_id=group_id, log_id=log_id
        ),
    )
    run = wait_run(client, client.create_job_run(run_details(ids, job.id)).data.id)
    assert (run.log_details.log_group_id, run.log_details.log_id) == (group_id, log_id)
    # A group-level stream finds it too.
    rows = search(emu, f"search \"{ids['COMPARTMENT_ID']}/{group_id}\" | where source = '*{run.id}'")
    assert [r["logContent"]["data"]["message"] for r in rows] == ["to the named log"]
    assert rows[0]["logContent"]["oracle"]["logid"] == log_id


def test_search_rejects_bad_windows_and_queries(emu, ids):
    import datetime as dt

    client = emu.log_search_client(retries=False)
    now = dt.datetime.now(dt.UTC)

    def details(query: str, days: float = 1) -> oci.loggingsearch.models.SearchLogsDetails:
        return oci.loggingsearch.models.SearchLogsDetails(
            time_start=now - dt.timedelta(days=days), time_end=now, search_query=query
        )

    stream = f'search "{ids["COMPARTMENT_ID"]}"'
    for body, needle in [
        (details(stream, days=15), "14 days"),
        (details(stream + " | stats count"), "unsupported"),
    ]:
        with pytest.raises(oci.exceptions.ServiceError) as err:
            client.search_logs(body)
        assert (err.value.status, err.value.code) == (400, "InvalidParameter")
        assert needle in err.value.message
    assert client.search_logs(details(stream)).data.results == []


def test_one_search_reads_several_runs_by_source_alternatives(emu, ids, client):
    """`where source = '...' or source = '...'` (the Logging query language's or, and binding tighter,
    parentheses): one search returns the lines of exactly the runs it names, across their logs."""
    job = make_job(
        client,
        ids,
        artifact=b"import os\nprint('from', os.environ['JOB_RUN_OCID'][-6:])\n",
        job_log_configuration_details=M.JobLogConfigurationDetails(
            enable_logging=True, enable_auto_log_creation=True, log_group_id=ids["LOG_GROUP_ID"]
        ),
    )
    runs = [wait_run(client, client.create_job_run(run_details(ids, job.id)).data.id) for _ in range(3)]
    streams = ", ".join(
        f'"{ids["COMPARTMENT_ID"]}/{run.log_details.log_group_id}/{run.log_details.log_id}"' for run in runs
    )
    first, second, third = (run.id for run in runs)

    def sources(where: str) -> set[str]:
        rows = search(emu, f"search {streams} | where {where} | sort by datetime asc")
        return {row["logContent"]["source"] for row in rows}

    assert sources(f"source = '*{first}' or source = '*{third}'") == {first, third}
    assert sources(f"source = '*{first}' and source = 'ocid1.*' or source = '*{second}'") == {first, second}
    assert sources(f"(source = '*{first}' or source = '*{second}') and source = '*{second}'") == {second}
    with pytest.raises(oci.exceptions.ServiceError) as err:
        search(emu, f"search {streams} | where source = '*{first}' or")
    assert err.value.status == 400

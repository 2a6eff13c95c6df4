"""Every validation rule answers OCI's error body with a message naming the field."""

from __future__ import annotations

from typing import Any

import oci
import pytest
from emulator_support import infrastructure, job_details, make_job, run_details
from oci.data_science import models as M

CASES: list[tuple[str, dict[str, Any], int, str, str]] = [
    ("unknown shape", {"shape_name": "VM.Nope.1"}, 400, "InvalidParameter", "shapeName"),
    ("ocpus too many", {"ocpus": 65.0}, 400, "InvalidParameter", "ocpus"),
    ("ocpus too few", {"ocpus": 0.5}, 400, "InvalidParameter", "ocpus"),
    ("memory per ocpu", {"ocpus": 1.0, "memory_in_gbs": 65.0}, 400, "InvalidParameter", "memoryInGBs"),
    (
        "flex without config",
        {"job_shape_config_details": None},
        400,
        "MissingParameter",
        "jobShapeConfigDetails",
    ),
    ("fixed with config", {"shape_name": "VM.Standard2.1"}, 400, "InvalidParameter", "jobShapeConfigDetails"),
    ("block storage", {"block_storage_size_in_gbs": 49}, 400, "InvalidParameter", "blockStorageSizeInGBs"),
    ("no subnet", {"subnet_id": None}, 400, "MissingParameter", "subnetId"),
]


def _expect(call, status: int, code: str, field: str) -> None:
    with pytest.raises(oci.exceptions.ServiceError) as err:
        call()
    assert (err.value.status, err.value.code) == (status, code), err.value.message
    assert field in err.value.message
    assert err.value.request_id


@pytest.mark.parametrize(("name", "change", "status", "code", "field"), CASES, ids=[c[0] for c in CASES])
def test_infrastructure_rules(shared_emu, name, change, status, code, field):
    client, ids = shared_emu.datascience_client(retries=False), shared_emu.ids
    shape_config = {k: change.pop(k) for k in ("ocpus", "memory_in_gbs") if k in change}
    infra_args: dict[str, Any] = dict(change)
    if shape_config:
        infra_args["job_shape_config_details"] = M.JobShapeConfigDetails(**{"ocpus": 1.0, **shape_config})
    _expect(
        lambda: client.create_job(
            job_details(ids, job_infrastructure_configuration_details=infrastructure(ids, **infra_args))
        ),
        status,
        code,
        field,
    )


def test_configuration_and_required_field_rules(shared_emu):
    client, ids = shared_emu.datascience_client(retries=False), shared_emu.ids
    big_env = {f"V{i}": "x" * 1000 for i in range(21)}
    _expect(
        lambda: client.create_job(
            job_details(
                ids, job_configuration_details=M.DefaultJobConfigurationDetails(environment_variables=big_env)
            )
        ),
        400,
        "InvalidParameter",
        "environmentVariables",
    )
    _expect(
        lambda: client.create_job(
            job_details(
                ids,
                job_configuration_details=M.DefaultJobConfigurationDetails(command_line_arguments="a" * 4001),
            )
        ),
        400,
        "InvalidParameter",
        "commandLineArguments",
    )
    _expect(
        lambda: client.create_job(
            job_details(
                ids, job_configuration_details=M.DefaultJobConfigurationDetails(maximum_runtime_in_minutes=0)
            )
        ),
        400,
        "InvalidParameter",
        "maximumRuntimeInMinutes",
    )
    _expect(
        lambda: client.create_job(job_details(ids, project_id=None)), 400, "MissingParameter", "projectId"
    )
    _expect(
        lambda: client.create_job(job_details(ids, job_infrastructure_configuration_details=None)),
        400,
        "MissingParameter",
        "jobInfrastructureConfigurationDetails",
    )
    _expect(
        lambda: client.create_job(job_details(ids, compartment_id="ocid1.compartment.oc1..unknown")),
        404,
        "NotAuthorizedOrNotFound",
        "compartment",
    )
    _expect(
        lambda: client.list_jobs(compartment_id="ocid1.compartment.oc1..unknown"),
        404,
        "NotAuthorizedOrNotFound",
        "compartment",
    )
    _expect(
        lambda: client.create_job(
            job_details(
                ids,
                job_log_configuration_details=M.JobLogConfigurationDetails(
                    enable_logging=True,
                    enable_auto_log_creation=True,
                    log_group_id="ocid1.loggroup.oc1.iad.nope",
                ),
            )
        ),
        404,
        "NotAuthorizedOrNotFound",
        "log group",
    )
    _expect(
        lambda: client.list_jobs(compartment_id=ids["COMPARTMENT_ID"], limit=1000),
        400,
        "InvalidParameter",
        "limit",
    )
    _expect(
        lambda: client.get_job("ocid1.datasciencejob.oc1.iad.nope"), 404, "NotAuthorizedOrNotFound", "job"
    )


def test_run_override_rules(shared_emu):
    client, ids = shared_emu.datascience_client(retries=False), shared_emu.ids
    job = make_job(
        client,
        ids,
        artifact=b"print(1)\n",
        job_configuration_details=M.DefaultJobConfigurationDetails(environment_variables={"A": "x" * 15000}),
    )
    # Each block alone is fine; merged with the job's they exceed the 20,000 characters.
    _expect(
        lambda: client.create_job_run(
            run_details(
                ids,
                job.id,
                job_configuration_override_details=M.DefaultJobConfigurationDetails(
                    environment_variables={"B": "y" * 6000}
                ),
            )
        ),
        400,
        "InvalidParameter",
        "environmentVariables",
    )
    _expect(
        lambda: client.create_job_run(
            run_details(
                ids,
                job.id,
                job_infrastructure_configuration_override_details=infrastructure(
                    ids, block_storage_size_in_gbs=10
                ),
            )
        ),
        400,
        "InvalidParameter",
        "jobInfrastructureConfigurationOverrideDetails.blockStorageSizeInGBs",
    )
    _expect(lambda: client.create_job_run(run_details(ids, None)), 400, "MissingParameter", "jobId")


def test_unparseable_body(shared_emu):
    client = shared_emu.datascience_client(retries=False)
    _expect(
        lambda: client.base_client.call_api(
            resource_path="/jobs",
            method="POST",
            header_params={"accept": "application/json", "content-type": "application/json"},
            body="{not json",
            response_type="Job",
        ),
        400,
        "CannotParseRequest",
        "JSON",
    )

"""The OCI side changing under the operator: adopting a job made with the SDK, putting drift back."""

from __future__ import annotations

import oci
import operator_scripts as scripts
import pytest
from operator_harness import Scenario, wait_for

pytestmark = pytest.mark.integration
M = oci.data_science.models


def _create_job_with_sdk(e2e: Scenario, script: str) -> str:
    details = M.CreateJobDetails(
        # Its owner in OCI consents to its adoption by this namespace (core/tenancy.py).
        freeform_tags={"ocids.io/adoptable-by": e2e.namespace},
        project_id=e2e.ids["PROJECT_ID"],
        compartment_id=e2e.compartment_id,
        display_name="made-by-hand",
        job_configuration_details=M.DefaultJobConfigurationDetails(environment_variables={"EPOCHS": "2"}),
        job_infrastructure_configuration_details=M.ManagedEgressStandaloneJobInfrastructureConfigurationDetails(
            shape_name="VM.Standard.E4.Flex",
            block_storage_size_in_gbs=50,
            job_shape_config_details=M.JobShapeConfigDetails(ocpus=1, memory_in_gbs=16),
        ),
        job_log_configuration_details=M.JobLogConfigurationDetails(
            enable_logging=True, enable_auto_log_creation=True, log_group_id=e2e.ids["LOG_GROUP_ID"]
        ),
    )
    job_id = str(e2e.oci.ds.create_job(details).data.id)
    e2e.oci.ds.create_job_artifact(
        job_id, script.encode(), content_disposition="attachment; filename=train.py"
    )
    wait_for(
        lambda: e2e.oci.get_job(job_id).lifecycle_state == "ACTIVE", timeout=30, message="SDK job ACTIVE"
    )
    return job_id


def _ocpus(e2e: Scenario, job_id: str) -> float | None:
    cfg = e2e.oci.get_job(job_id).job_infrastructure_configuration_details.job_shape_config_details
    return cfg.ocpus if cfg else None


def test_adopting_an_existing_oci_job_by_ocid(e2e: Scenario) -> None:
    job_id = _create_job_with_sdk(e2e, scripts.TRAIN)
    e2e.apply(e2e.job("adopted", scripts.TRAIN, env={"EPOCHS": "2"}, adopt_job_id=job_id))
    job = e2e.wait_job_active("adopted")
    assert job["status"]["jobId"] == job_id
    tags = e2e.oci.get_job(job_id).freeform_tags or {}
    assert tags.get("ocids.io/name") == "adopted", tags

    e2e.apply(e2e.run("adopted-1", "adopted"))
    run = e2e.wait_run("adopted-1", "Succeeded")
    assert run["status"]["jobId"] == job_id
    e2e.run_log(run, "saved model.json")
    assert [j.id for j in e2e.oci_jobs()] == [job_id], "adoption must not create another OCI job"


def test_drift_in_oci_is_put_back(e2e: Scenario) -> None:
    e2e.apply(e2e.job("steady", scripts.TRAIN, env={"EPOCHS": "1"}, ocpus=1, memory_in_gbs=16))
    job_id = e2e.wait_job_active("steady")["status"]["jobId"]

    # Someone resizes the job in the console: the operator restores the spec's shape.
    e2e.oci.ds.update_job(
        job_id,
        M.UpdateJobDetails(
            job_infrastructure_configuration_details=M.ManagedEgressStandaloneJobInfrastructureConfigurationDetails(
                shape_name="VM.Standard.E4.Flex",
                block_storage_size_in_gbs=50,
                job_shape_config_details=M.JobShapeConfigDetails(ocpus=4, memory_in_gbs=64),
            )
        ),
    )
    assert _ocpus(e2e, job_id) == 4
    wait_for(lambda: _ocpus(e2e, job_id) == 1, timeout=60, message="operator restores ocpus=1")

    # Someone deletes the job: the operator makes a new one and says so in an Event.
    e2e.oci.ds.delete_job(job_id, delete_related_job_runs=True)
    job = e2e.wait_job_status(
        "steady",
        lambda s: s.get("phase") == "Active" and s.get("jobId") not in (None, job_id),
        "a new OCI job replaces the deleted one",
    )
    new_id = job["status"]["jobId"]
    assert e2e.oci.get_job(new_id).lifecycle_state == "ACTIVE"
    assert [j.id for j in e2e.oci_jobs()] == [new_id]
    recreated = e2e.wait_event("steady", "JobRecreated")
    assert recreated["type"] == "Warning" and new_id in recreated["message"], recreated

    # The replacement runs work.
    e2e.apply(e2e.run("steady-1", "steady"))
    assert e2e.wait_run("steady-1", "Succeeded")["status"]["jobId"] == new_id

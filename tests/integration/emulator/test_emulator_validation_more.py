"""Multi-node, EMPTY, compute-target, mount and container rules through the real SDK: OCI's error
body, a message naming the field, and nothing created."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import oci
import pytest
from emulator_support import infrastructure, job_details, make_job, run_details, wait_run
from oci.data_science import models as M


def _expect(call: Callable[[], Any], status: int, code: str, text: str) -> None:
    with pytest.raises(oci.exceptions.ServiceError) as err:
        call()
    assert (err.value.status, err.value.code) == (status, code), err.value.message
    assert text in err.value.message


def _group(**changes: Any) -> M.JobNodeGroupConfigurationDetails:
    values: dict[str, Any] = {
        "name": "workers",
        "replicas": 2,
        "job_infrastructure_configuration_details": M.MultiNodeJobInfrastructureConfigurationDetails(
            shape_name="VM.Standard.E4.Flex",
            block_storage_size_in_gbs=50,
            job_shape_config_details=M.JobShapeConfigDetails(ocpus=1.0),
        ),
        "job_configuration_details": M.DefaultJobConfigurationDetails(),
    }
    values.update(changes)
    return M.JobNodeGroupConfigurationDetails(**values)


def _nodes(
    *groups: M.JobNodeGroupConfigurationDetails, **changes: Any
) -> M.MultiNodeJobNodeConfigurationDetails:
    values: dict[str, Any] = {
        "startup_order": "IN_PARALLEL",
        "job_network_configuration": M.JobDefaultNetworkConfiguration(),
        "job_node_group_configuration_details_list": list(groups) or [_group()],
    }
    values.update(changes)
    return M.MultiNodeJobNodeConfigurationDetails(**values)


def _multi_node_job(ids: dict[str, str], nodes: M.MultiNodeJobNodeConfigurationDetails) -> M.CreateJobDetails:
    return M.CreateJobDetails(
        project_id=ids["PROJECT_ID"],
        compartment_id=ids["COMPARTMENT_ID"],
        job_node_configuration_details=nodes,
    )


def _mount(name: str = "data", **changes: Any) -> M.ObjectStorageMountConfigurationDetails:
    values = {"namespace": "ns", "bucket": "b", "destination_directory_name": name, **changes}
    return M.ObjectStorageMountConfigurationDetails(**values)


GROUP = "jobNodeConfigurationDetails.jobNodeGroupConfigurationDetailsList[0]"


def test_create_job_rules(shared_emu):
    client, ids = shared_emu.datascience_client(retries=False), shared_emu.ids
    jobs_before = len(client.list_jobs(compartment_id=ids["COMPARTMENT_ID"]).data)
    cases: list[tuple[M.CreateJobDetails, int, str, str]] = [
        (_multi_node_job(ids, _nodes(_group(replicas=0))), 400, "InvalidParameter", f"{GROUP}.replicas"),
        (
            _multi_node_job(ids, _nodes(_group(minimum_success_replicas=3))),
            400,
            "InvalidParameter",
            f"{GROUP}.minimumSuccessReplicas",
        ),
        (
            _multi_node_job(ids, _nodes(_group(), _group())),
            400,
            "InvalidParameter",
            "jobNodeGroupConfigurationDetailsList[1].name 'workers'",
        ),
        (
            _multi_node_job(ids, _nodes(startup_order="IN_ORDER", maximum_runtime_in_minutes=0)),
            400,
            "InvalidParameter",
            "jobNodeConfigurationDetails.maximumRuntimeInMinutes",
        ),
        (
            _multi_node_job(
                ids,
                _nodes(
                    job_network_configuration=M.JobCustomNetworkConfiguration(
                        subnet_id="ocid1.subnet.oc1..none"
                    )
                ),
            ),
            404,
            "NotAuthorizedOrNotFound",
            "subnet ocid1.subnet.oc1..none",
        ),
        (
            job_details(ids, job_configuration_details=None),
            400,
            "MissingParameter",
            "jobConfigurationDetails",
        ),
        (
            job_details(
                ids, job_infrastructure_configuration_details=M.EmptyJobInfrastructureConfigurationDetails()
            ),
            400,
            "InvalidParameter",
            "EMPTY is only allowed with jobNodeConfigurationDetails",
        ),
        (
            job_details(
                ids,
                job_infrastructure_configuration_details=M.ManagedComputeClusterJobInfrastructureConfigurationDetails(
                    compute_target_id="ocid1.computecluster.oc1..unknown"
                ),
            ),
            400,
            "InvalidParameter",
            "jobInfrastructureConfigurationDetails.computeTargetId",
        ),
        (
            job_details(
                ids, job_storage_mount_configuration_details_list=[_mount(f"d{i}") for i in range(6)]
            ),
            400,
            "InvalidParameter",
            "at most 5",
        ),
        (
            job_details(
                ids, job_storage_mount_configuration_details_list=[_mount(), _mount(destination_path="/mnt")]
            ),
            400,
            "InvalidParameter",
            "jobStorageMountConfigurationDetailsList[1] mounts at /mnt/data",
        ),
        (
            job_details(
                ids,
                job_environment_configuration_details=M.OcirContainerJobEnvironmentConfigurationDetails(
                    image="iad.ocir.io/ns/train:1", image_digest="sha256:short"
                ),
            ),
            400,
            "InvalidParameter",
            "jobEnvironmentConfigurationDetails.imageDigest",
        ),
        (
            job_details(
                ids,
                job_configuration_details=M.DefaultJobConfigurationDetails(
                    startup_probe_details=M.JobExecProbeDetails(command=["true"], failure_threshold=0)
                ),
            ),
            400,
            "InvalidParameter",
            "jobConfigurationDetails.startupProbeDetails.failureThreshold",
        ),
    ]
    for details, status, code, text in cases:
        _expect(lambda d=details: client.create_job(d), status, code, text)
    assert len(client.list_jobs(compartment_id=ids["COMPARTMENT_ID"]).data) == jobs_before

    # A burstable flex shape (cpuBaseline) is accepted and read back.
    burstable = M.JobShapeConfigDetails(ocpus=1.0, cpu_baseline="BASELINE_1_8")
    job = client.create_job(
        job_details(
            ids,
            job_infrastructure_configuration_details=infrastructure(ids, job_shape_config_details=burstable),
        )
    ).data
    assert (
        job.job_infrastructure_configuration_details.job_shape_config_details.cpu_baseline == "BASELINE_1_8"
    )


def test_run_and_update_rules_and_the_effective_configuration(shared_emu):
    client, ids = shared_emu.datascience_client(retries=False), shared_emu.ids
    bucket = M.ObjectStorageMountConfigurationDetails(
        namespace=ids["OBJECT_STORAGE_NAMESPACE"],
        bucket=ids["OBJECT_STORAGE_BUCKET"],
        destination_directory_name="a",
    )
    container = M.OcirContainerJobEnvironmentConfigurationDetails(
        image="iad.ocir.io/ns/train:1", cmd=["train"]
    )
    job = make_job(
        client,
        ids,
        job_environment_configuration_details=container,
        job_storage_mount_configuration_details_list=[bucket],
        job_configuration_details=M.DefaultJobConfigurationDetails(
            environment_variables={"OCIDS_EMULATOR_SIMULATE": "0:0"}
        ),
    )
    _expect(
        lambda: client.create_job_run(
            run_details(ids, job.id, job_node_configuration_override_details=_nodes())
        ),
        400,
        "InvalidParameter",
        "jobNodeConfigurationOverrideDetails is only allowed for a job with jobNodeConfigurationDetails",
    )
    _expect(
        lambda: client.create_job_run(
            run_details(
                ids,
                job.id,
                job_storage_mount_configuration_override_details_list=[_mount(destination_path="x")],
            )
        ),
        400,
        "InvalidParameter",
        "jobStorageMountConfigurationOverrideDetailsList[0].destinationPath",
    )
    _expect(
        lambda: client.update_job(
            job.id, M.UpdateJobDetails(job_storage_mount_configuration_details_list=[_mount(bucket="")])
        ),
        400,
        "MissingParameter",
        "jobStorageMountConfigurationDetailsList[0].bucket",
    )

    # The run's container override and mount list are what the run gets (an empty list: no mounts).
    override = M.OcirContainerJobEnvironmentConfigurationDetails(
        image="iad.ocir.io/ns/train:2", cmd=["evaluate"], image_digest="sha256:" + "0" * 64
    )
    run = client.create_job_run(
        run_details(
            ids,
            job.id,
            job_environment_configuration_override_details=override,
            job_storage_mount_configuration_override_details_list=[],
        )
    ).data
    assert wait_run(client, run.id).lifecycle_state == "SUCCEEDED"
    effective = shared_emu.admin.effective_configuration(run.id)["effective"]
    assert effective["jobEnvironmentConfigurationDetails"]["cmd"] == ["evaluate"]
    assert effective["jobStorageMountConfigurationDetailsList"] == []
    plain = client.create_job_run(run_details(ids, job.id)).data
    effective = shared_emu.admin.effective_configuration(plain.id)["effective"]
    assert [m["destinationDirectoryName"] for m in effective["jobStorageMountConfigurationDetailsList"]] == [
        "a"
    ]
    assert effective["jobEnvironmentConfigurationDetails"]["cmd"] == ["train"]

    # A multi-node job takes no top-level infrastructure, at create or update, nor a run's.
    multi = client.create_job(_multi_node_job(ids, _nodes())).data
    _expect(
        lambda: client.update_job(
            multi.id, M.UpdateJobDetails(job_infrastructure_configuration_details=infrastructure(ids))
        ),
        400,
        "InvalidParameter",
        "jobInfrastructureConfigurationDetails cannot be updated on a multi-node job",
    )
    client.create_job_artifact(multi.id, b"print(1)\n", content_disposition="attachment; filename=main.py")
    _expect(
        lambda: client.create_job_run(
            run_details(ids, multi.id, job_infrastructure_configuration_override_details=infrastructure(ids))
        ),
        400,
        "InvalidParameter",
        "jobInfrastructureConfigurationOverrideDetails is not allowed for a multi-node job",
    )

"""Validation of multi-node, EMPTY, compute-target, probe, mount and container blocks: each bad body
gets OCI's error code and a message naming the field."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from ocids_emulator.api.data_science.defaults import with_defaults
from ocids_emulator.api.data_science.run_effective import effective_configuration
from ocids_emulator.api.data_science.validation import (
    Catalog,
    check_create_job,
    check_create_run,
    check_run_fits_job,
    check_update_job,
)
from ocids_emulator.core.errors import ApiError, invalid

DIGEST = "sha256:" + "a" * 64
TARGET = "ocid1.computecluster.oc1..known"


def _known_target(target: str, field: str) -> object:
    if target != TARGET:
        raise invalid(f"{field} {target} is not a compute target of this tenancy")
    return {}


CATALOG = Catalog(compute_target=_known_target)


def _group(name: str = "workers", **changes: Any) -> dict[str, Any]:
    group: dict[str, Any] = {
        "name": name,
        "replicas": 3,
        "jobInfrastructureConfigurationDetails": {
            "jobInfrastructureType": "MULTI_NODE",
            "shapeName": "VM.Standard.E4.Flex",
            "blockStorageSizeInGBs": 50,
            "jobShapeConfigDetails": {"ocpus": 1, "memoryInGBs": 16},
        },
        "jobConfigurationDetails": {"jobType": "DEFAULT", "environmentVariables": {"A": "1"}},
    }
    group.update(changes)
    return group


def _multi_node(**changes: Any) -> dict[str, Any]:
    node: dict[str, Any] = {
        "jobNodeType": "MULTI_NODE",
        "startupOrder": "IN_PARALLEL",
        "jobNetworkConfiguration": {"jobNetworkType": "DEFAULT_NETWORK"},
        "jobNodeGroupConfigurationDetailsList": [_group()],
    }
    node.update(changes)
    return {"compartmentId": "c", "projectId": "p", "jobNodeConfigurationDetails": node}


def _single(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "compartmentId": "c",
        "projectId": "p",
        "jobConfigurationDetails": {"jobType": "DEFAULT"},
        "jobInfrastructureConfigurationDetails": {
            "jobInfrastructureType": "ME_STANDALONE",
            "shapeName": "VM.Standard.E4.Flex",
            "blockStorageSizeInGBs": 50,
            "jobShapeConfigDetails": {"ocpus": 1},
        },
    }
    body.update(changes)
    return body


def _infra(**changes: Any) -> dict[str, Any]:
    return {
        "jobInfrastructureConfigurationDetails": {
            **_single()["jobInfrastructureConfigurationDetails"],
            **changes,
        }
    }


def _env(**changes: Any) -> dict[str, Any]:
    env = {"jobEnvironmentType": "OCIR_CONTAINER", "image": "iad.ocir.io/ns/train:1", **changes}
    return {"jobEnvironmentConfigurationDetails": env}


def _mounts(*mounts: dict[str, Any]) -> dict[str, Any]:
    return {"jobStorageMountConfigurationDetailsList": list(mounts)}


def _os_mount(name: str = "data", **changes: Any) -> dict[str, Any]:
    return {
        "storageType": "OBJECT_STORAGE",
        "destinationDirectoryName": name,
        "namespace": "ns",
        "bucket": "b",
        **changes,
    }


def _probe(**changes: Any) -> dict[str, Any]:
    probe = {"jobProbeCheckType": "EXEC", "command": ["test", "-f", "/tmp/x"], **changes}
    return {"jobConfigurationDetails": {"jobType": "DEFAULT", "startupProbeDetails": probe}}


def _groups(*groups: dict[str, Any]) -> dict[str, Any]:
    return {"jobNodeGroupConfigurationDetailsList": list(groups)}


MISSING, INVALID = "MissingParameter", "InvalidParameter"
GROUP = "jobNodeConfigurationDetails.jobNodeGroupConfigurationDetailsList[0]"
# (case, body, code, text the message must contain)
CASES: list[tuple[str, dict[str, Any], str, str]] = [
    ("node type", _multi_node(jobNodeType="SINGLE"), INVALID, "jobNodeConfigurationDetails.jobNodeType"),
    ("startup order", _multi_node(startupOrder="RANDOM"), INVALID, "startupOrder"),
    ("node runtime", _multi_node(maximumRuntimeInMinutes=0), INVALID, "maximumRuntimeInMinutes"),
    (
        "network type",
        _multi_node(jobNetworkConfiguration={"jobNetworkType": "VCN"}),
        INVALID,
        "jobNetworkConfiguration.jobNetworkType",
    ),
    (
        "custom network without subnet",
        _multi_node(jobNetworkConfiguration={"jobNetworkType": "CUSTOM_NETWORK"}),
        MISSING,
        "jobNetworkConfiguration.subnetId",
    ),
    ("no groups", _multi_node(**_groups()), MISSING, "jobNodeGroupConfigurationDetailsList"),
    (
        "eleven groups",
        _multi_node(**_groups(*(_group(f"g{i}") for i in range(11)))),
        INVALID,
        "jobNodeGroupConfigurationDetailsList",
    ),
    ("duplicate names", _multi_node(**_groups(_group(), _group())), INVALID, "[1].name 'workers'"),
    ("no name", _multi_node(**_groups(_group(name=""))), MISSING, f"{GROUP}.name"),
    ("zero replicas", _multi_node(**_groups(_group(replicas=0))), INVALID, f"{GROUP}.replicas"),
    ("no replicas", _multi_node(**_groups(_group(replicas=None))), MISSING, f"{GROUP}.replicas"),
    (
        "minimum above replicas",
        _multi_node(**_groups(_group(minimumSuccessReplicas=4))),
        INVALID,
        f"{GROUP}.minimumSuccessReplicas",
    ),
    (
        "minimum zero",
        _multi_node(**_groups(_group(minimumSuccessReplicas=0))),
        INVALID,
        "minimumSuccessReplicas",
    ),
    (
        "group without infrastructure",
        _multi_node(**_groups(_group(jobInfrastructureConfigurationDetails=None))),
        MISSING,
        f"{GROUP}.jobInfrastructureConfigurationDetails",
    ),
    (
        "group standalone infrastructure",
        _multi_node(
            **_groups(_group(jobInfrastructureConfigurationDetails={"jobInfrastructureType": "STANDALONE"}))
        ),
        INVALID,
        f"{GROUP}.jobInfrastructureConfigurationDetails.jobInfrastructureType",
    ),
    (
        "group unknown shape",
        _multi_node(
            **_groups(
                _group(
                    jobInfrastructureConfigurationDetails={
                        **_group()["jobInfrastructureConfigurationDetails"],
                        "shapeName": "VM.Nope.1",
                    }
                )
            )
        ),
        INVALID,
        f"{GROUP}.jobInfrastructureConfigurationDetails.shapeName",
    ),
    (
        "group block storage",
        _multi_node(
            **_groups(
                _group(
                    jobInfrastructureConfigurationDetails={
                        **_group()["jobInfrastructureConfigurationDetails"],
                        "blockStorageSizeInGBs": None,
                    }
                )
            )
        ),
        MISSING,
        "blockStorageSizeInGBs",
    ),
    (
        "group capacity reservations",
        _multi_node(
            **_groups(
                _group(
                    jobInfrastructureConfigurationDetails={
                        **_group()["jobInfrastructureConfigurationDetails"],
                        "capacityReservationIds": ["nope"],
                    }
                )
            )
        ),
        INVALID,
        "capacityReservationIds[0]",
    ),
    (
        "group configuration type",
        _multi_node(**_groups(_group(jobConfigurationDetails={"jobType": "SCRIPT"}))),
        INVALID,
        f"{GROUP}.jobConfigurationDetails.jobType",
    ),
    (
        "group image",
        _multi_node(
            **_groups(
                _group(
                    jobEnvironmentConfigurationDetails={"jobEnvironmentType": "OCIR_CONTAINER", "image": "x"}
                )
            )
        ),
        INVALID,
        f"{GROUP}.jobEnvironmentConfigurationDetails.image",
    ),
    (
        "top-level DEFAULT with nodes",
        {**_multi_node(), "jobConfigurationDetails": {"jobType": "DEFAULT"}},
        INVALID,
        "jobConfigurationDetails must be absent or EMPTY",
    ),
    (
        "top-level standalone with nodes",
        {**_multi_node(), **_infra()},
        INVALID,
        "jobInfrastructureConfigurationDetails must be absent or EMPTY",
    ),
    (
        "single node without configuration",
        _single(jobConfigurationDetails=None),
        MISSING,
        "jobConfigurationDetails",
    ),
    (
        "single node without infrastructure",
        _single(jobInfrastructureConfigurationDetails=None),
        MISSING,
        "jobInfrastructureConfigurationDetails",
    ),
    (
        "EMPTY infrastructure without nodes",
        _single(jobInfrastructureConfigurationDetails={"jobInfrastructureType": "EMPTY"}),
        INVALID,
        "EMPTY is only allowed with jobNodeConfigurationDetails",
    ),
    (
        "MULTI_NODE infrastructure without nodes",
        _single(**_infra(jobInfrastructureType="MULTI_NODE")),
        INVALID,
        "MULTI_NODE belongs in the node groups",
    ),
    (
        "EMPTY configuration with fields",
        _single(jobConfigurationDetails={"jobType": "EMPTY", "commandLineArguments": "x"}),
        INVALID,
        "commandLineArguments",
    ),
    (
        "compute target missing",
        _single(jobInfrastructureConfigurationDetails={"jobInfrastructureType": "MANAGED_COMPUTE_CLUSTER"}),
        MISSING,
        "jobInfrastructureConfigurationDetails.computeTargetId",
    ),
    (
        "compute target unknown",
        _single(
            jobInfrastructureConfigurationDetails={
                "jobInfrastructureType": "MANAGED_COMPUTE_CLUSTER",
                "computeTargetId": "ocid1.computecluster.oc1..other",
            }
        ),
        INVALID,
        "jobInfrastructureConfigurationDetails.computeTargetId",
    ),
    (
        "compute target with a shape",
        _single(
            jobInfrastructureConfigurationDetails={
                "jobInfrastructureType": "MANAGED_COMPUTE_CLUSTER",
                "computeTargetId": TARGET,
                "shapeName": "VM.Standard.E4.Flex",
            }
        ),
        INVALID,
        "jobInfrastructureConfigurationDetails.shapeName",
    ),
    (
        "compute target resources",
        _single(
            jobInfrastructureConfigurationDetails={
                "jobInfrastructureType": "MANAGED_COMPUTE_CLUSTER",
                "computeTargetId": TARGET,
                "resourceConfiguration": {"resourceRequestConfiguration": {"ocpus": 0, "memoryInGBs": 8}},
            }
        ),
        INVALID,
        "resourceConfiguration.resourceRequestConfiguration.ocpus",
    ),
    (
        "compute target without resources",
        _single(
            jobInfrastructureConfigurationDetails={
                "jobInfrastructureType": "MANAGED_COMPUTE_CLUSTER",
                "computeTargetId": TARGET,
            }
        ),
        MISSING,
        "jobInfrastructureConfigurationDetails.resourceConfiguration",
    ),
    (
        "compute target limit without memory",
        _single(
            jobInfrastructureConfigurationDetails={
                "jobInfrastructureType": "MANAGED_COMPUTE_CLUSTER",
                "computeTargetId": TARGET,
                "resourceConfiguration": {
                    "resourceRequestConfiguration": {"ocpus": 1, "memoryInGBs": 8},
                    "resourceLimitConfiguration": {"ocpus": 2},
                },
            }
        ),
        MISSING,
        "resourceConfiguration.resourceLimitConfiguration.memoryInGBs",
    ),
    (
        "probe type",
        _single(**_probe(jobProbeCheckType="HTTP")),
        INVALID,
        "startupProbeDetails.jobProbeCheckType",
    ),
    ("probe without command", _single(**_probe(command=[])), MISSING, "startupProbeDetails.command"),
    (
        "probe command not strings",
        _single(**_probe(command=["ok", 1])),
        INVALID,
        "startupProbeDetails.command",
    ),
    ("probe period", _single(**_probe(periodInSeconds=0)), INVALID, "startupProbeDetails.periodInSeconds"),
    ("probe threshold", _single(**_probe(failureThreshold=101)), INVALID, "failureThreshold"),
    ("probe delay", _single(**_probe(initialDelayInSeconds=-1)), INVALID, "initialDelayInSeconds"),
    ("six mounts", _single(**_mounts(*(_os_mount(f"d{i}") for i in range(6)))), INVALID, "at most 5"),
    (
        "mount without directory",
        _single(**_mounts(_os_mount(""))),
        MISSING,
        "jobStorageMountConfigurationDetailsList[0].destinationDirectoryName",
    ),
    (
        "relative mount path",
        _single(**_mounts(_os_mount(destinationPath="data"))),
        INVALID,
        "destinationPath",
    ),
    (
        "two mounts at one path",
        _single(**_mounts(_os_mount(), _os_mount(destinationPath="/mnt/"))),
        INVALID,
        "[1] mounts at /mnt/data",
    ),
    (
        "two mounts at one path through a dot",
        _single(**_mounts(_os_mount(), _os_mount(destinationPath="/mnt/."))),
        INVALID,
        "[1] mounts at /mnt/data",
    ),
    ("mount without bucket", _single(**_mounts(_os_mount(bucket=None))), MISSING, "[0].bucket"),
    ("mount without namespace", _single(**_mounts(_os_mount(namespace=""))), MISSING, "[0].namespace"),
    (
        "file storage without export",
        _single(
            **_mounts(
                {"storageType": "FILE_STORAGE", "destinationDirectoryName": "f", "mountTargetId": "ocid1.m"}
            )
        ),
        MISSING,
        "[0].exportId",
    ),
    ("mount type", _single(**_mounts(_os_mount(storageType="NFS"))), INVALID, "[0].storageType"),
    (
        "image without registry",
        _single(**_env(image="train")),
        INVALID,
        "jobEnvironmentConfigurationDetails.image",
    ),
    ("image bad digest suffix", _single(**_env(image="iad.ocir.io/ns/t@sha256:12")), INVALID, ".image"),
    ("image digest", _single(**_env(imageDigest="md5:abc")), INVALID, "imageDigest"),
    ("image signature", _single(**_env(imageSignatureId="sig")), INVALID, "imageSignatureId"),
    (
        "cpu baseline",
        _single(**_infra(jobShapeConfigDetails={"ocpus": 1, "cpuBaseline": "BASELINE_1_4"})),
        INVALID,
        "jobShapeConfigDetails.cpuBaseline",
    ),
    (
        "cpu baseline on a fixed shape",
        _single(**_infra(shapeName="VM.Standard2.1", jobShapeConfigDetails={"cpuBaseline": "BASELINE_1_2"})),
        INVALID,
        "jobShapeConfigDetails is only allowed with a flexible shape",
    ),
    (
        "capacity reservation",
        _single(**_infra(capacityReservationId="cr-1")),
        INVALID,
        "capacityReservationId",
    ),
]


@pytest.mark.parametrize(("case", "body", "code", "text"), CASES, ids=[c[0] for c in CASES])
def test_create_job_rules(case: str, body: dict[str, Any], code: str, text: str) -> None:
    with pytest.raises(ApiError) as err:
        check_create_job(copy.deepcopy(body), lambda g, log: None, CATALOG)
    assert (err.value.status, err.value.code) == (400, code), err.value.message
    assert text in err.value.message


ACCEPTED: list[tuple[str, dict[str, Any]]] = [
    ("ADS multi-node (no top-level blocks)", _multi_node()),
    (
        "multi-node with EMPTY top-level blocks and a custom network",
        {
            **_multi_node(
                jobNetworkConfiguration={"jobNetworkType": "CUSTOM_NETWORK", "subnetId": "ocid1.subnet.x"}
            ),
            "jobConfigurationDetails": {"jobType": "EMPTY"},
            "jobInfrastructureConfigurationDetails": {"jobInfrastructureType": "EMPTY"},
        },
    ),
    ("EMPTY configuration, container", _single(jobConfigurationDetails={"jobType": "EMPTY"}, **_env())),
    (
        "compute target",
        _single(
            jobInfrastructureConfigurationDetails={
                "jobInfrastructureType": "MANAGED_COMPUTE_CLUSTER",
                "computeTargetId": TARGET,
                "resourceConfiguration": {
                    "resourceRequestConfiguration": {"ocpus": 2, "memoryInGBs": 8, "gpus": 1},
                    "resourceLimitConfiguration": {"ocpus": 4.5, "memoryInGBs": 16},
                },
            }
        ),
    ),
    (
        "full container reference, probe, baseline, reservation, mounts",
        _single(
            **_env(
                image=f"iad.ocir.io/ns/team/train:v1.2@{DIGEST}",
                imageDigest=DIGEST,
                imageSignatureId="ocid1.s",
            ),
            **_probe(periodInSeconds=5, failureThreshold=3, initialDelayInSeconds=0),
            **_mounts(
                _os_mount(),
                _os_mount(destinationPath="/data"),
                {
                    "storageType": "FILE_STORAGE",
                    "destinationDirectoryName": "f",
                    "mountTargetId": "m",
                    "exportId": "e",
                },
            ),
            jobInfrastructureConfigurationDetails={
                **_single()["jobInfrastructureConfigurationDetails"],
                "jobShapeConfigDetails": {"ocpus": 1, "cpuBaseline": "BASELINE_1_2"},
                "capacityReservationId": "ocid1.capacityreservation.oc1..x",
            },
        ),
    ),
]


@pytest.mark.parametrize(("case", "body"), ACCEPTED, ids=[c[0] for c in ACCEPTED])
def test_accepted_bodies(case: str, body: dict[str, Any]) -> None:
    check_create_job(copy.deepcopy(body), lambda g, log: None, CATALOG)


def test_run_overrides_are_checked_like_the_job() -> None:
    base = {"jobId": "j", "compartmentId": "c", "projectId": "p"}
    node = _multi_node(**_groups(_group(replicas=0)))["jobNodeConfigurationDetails"]
    with pytest.raises(
        ApiError, match=r"jobNodeConfigurationOverrideDetails\.jobNodeGroupConfigurationDetailsList\[0\]"
    ):
        check_create_run({**base, "jobNodeConfigurationOverrideDetails": node}, lambda g, log: None, CATALOG)
    mounts = [_os_mount(destinationPath="rel")]
    with pytest.raises(
        ApiError, match=r"jobStorageMountConfigurationOverrideDetailsList\[0\]\.destinationPath"
    ):
        check_create_run(
            {**base, "jobStorageMountConfigurationOverrideDetailsList": mounts}, lambda g, log: None
        )
    with pytest.raises(ApiError, match=r"jobEnvironmentConfigurationOverrideDetails\.imageDigest"):
        check_create_run(
            {
                **base,
                "jobEnvironmentConfigurationOverrideDetails": _env(imageDigest="x")[
                    "jobEnvironmentConfigurationDetails"
                ],
            },
            lambda g, log: None,
        )
    # Node overrides only for a multi-node job; infrastructure overrides only for a single-node one.
    single_job, multi_job = _single(), _multi_node()
    good_node = multi_job["jobNodeConfigurationDetails"]
    with pytest.raises(ApiError, match="jobNodeConfigurationOverrideDetails is only allowed"):
        check_run_fits_job({"jobNodeConfigurationOverrideDetails": good_node}, single_job)
    infra_override = {
        "jobInfrastructureConfigurationOverrideDetails": _infra()["jobInfrastructureConfigurationDetails"]
    }
    with pytest.raises(ApiError, match="jobInfrastructureConfigurationOverrideDetails is not allowed"):
        check_run_fits_job(infra_override, multi_job)


def test_update_job_checks_mounts_and_refuses_infrastructure_of_a_multi_node_job() -> None:
    with pytest.raises(ApiError, match=r"jobStorageMountConfigurationDetailsList\[0\]\.bucket"):
        check_update_job(_mounts(_os_mount(bucket=None)))
    with pytest.raises(ApiError, match="cannot be updated on a multi-node job"):
        check_update_job(_infra(), CATALOG, _multi_node())


def test_defaults_fill_node_group_memory_and_effective_configuration_uses_overrides() -> None:
    body = _multi_node(
        **_groups(
            _group(
                jobInfrastructureConfigurationDetails={
                    **_group()["jobInfrastructureConfigurationDetails"],
                    "jobShapeConfigDetails": {"ocpus": 2},
                }
            )
        )
    )
    filled = with_defaults(body)
    group = filled["jobNodeConfigurationDetails"]["jobNodeGroupConfigurationDetailsList"][0]
    assert group["jobInfrastructureConfigurationDetails"]["jobShapeConfigDetails"]["memoryInGBs"] == 32.0
    assert (
        "memoryInGBs"
        not in body["jobNodeConfigurationDetails"]["jobNodeGroupConfigurationDetailsList"][0][
            "jobInfrastructureConfigurationDetails"
        ]["jobShapeConfigDetails"]
    )

    job = {**filled, **_mounts(_os_mount()), **_env()}
    container = {"jobEnvironmentType": "OCIR_CONTAINER", "image": "iad.ocir.io/ns/other:2", "cmd": ["go"]}
    run = {
        "jobConfigurationOverrideDetails": {"jobType": "DEFAULT", "environmentVariables": {"B": "2"}},
        "jobEnvironmentConfigurationOverrideDetails": container,
        "jobStorageMountConfigurationOverrideDetailsList": [],
    }
    effective = effective_configuration(job, run)
    groups = effective["jobNodeConfigurationDetails"]["jobNodeGroupConfigurationDetailsList"]
    assert groups[0]["jobConfigurationDetails"]["environmentVariables"] == {"A": "1", "B": "2"}
    assert groups[0]["jobEnvironmentConfigurationDetails"] == container
    assert effective["jobEnvironmentConfigurationDetails"] == container
    assert effective["jobStorageMountConfigurationDetailsList"] == []  # an empty override replaces them
    assert effective_configuration(job, {})["jobStorageMountConfigurationDetailsList"] == [_os_mount()]

"""The rules of the whole-Jobs-API fields (issue 15): artifact-less containers, jobType EMPTY, startup probes,
tags, any shape by name, cpuBaseline, capacity reservations, fast launch, compute targets, multi-node jobs
and the run overrides. Each is checked twice, by the CRD's CEL (offline) and by the pydantic model, with the
same words, as in test_api_rules.py."""

from __future__ import annotations

import re
from typing import Any

import pytest
from api_cel_eval import violations
from api_samples import job_spec
from ocids_codegen.crdgen import crd
from ocids_operator.api import (
    TRAINING_JOB,
    TRAINING_JOB_RUN,
    Container,
    ContainerOverride,
    Infrastructure,
    InfrastructureOverride,
    NodeConfiguration,
    NodeGroupOverride,
    NodeInfrastructure,
    TrainingJobRunSpec,
    TrainingJobSpec,
)
from pydantic import ValidationError

JOB_SPEC_SCHEMA = crd(TRAINING_JOB)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
RUN_SPEC_SCHEMA = crd(TRAINING_JOB_RUN)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"][
    "spec"
]

E4 = "VM.Standard.E4.Flex"
IMAGE = {"image": "iad.ocir.io/ns/train:1"}
CT = "ocid1.computecluster.oc1..ct"
GROUP = {"name": "workers", "replicas": 3}


def nodes(*groups: dict[str, Any], **more: Any) -> dict[str, Any]:
    return {"groups": list(groups or [GROUP]), **more}


def no_artifact(**changes: Any) -> dict[str, Any]:
    spec = job_spec(**changes)
    del spec["artifact"]
    return spec


# (id, spec, path the API server names, message)
INVALID_JOBS: list[tuple[str, dict[str, Any], str, str]] = [
    (
        "no-artifact-no-container",
        no_artifact(),
        "spec.artifact",
        "artifact is required unless container is set",
    ),
    (
        "empty-with-env",
        job_spec(jobType="EMPTY", container=IMAGE, env=[{"name": "A", "value": "1"}]),
        "spec.jobType",
        "jobType EMPTY takes no env, args, entrypoint, conda, maximumRuntimeInMinutes or startupProbe",
    ),
    (
        "empty-with-probe",
        job_spec(jobType="EMPTY", container=IMAGE, startupProbe={"command": ["true"]}),
        "spec.jobType",
        "jobType EMPTY takes no env",
    ),
    (
        "empty-with-max-runtime",
        job_spec(jobType="EMPTY", container=IMAGE, maximumRuntimeInMinutes=5),
        "spec.jobType",
        "jobType EMPTY takes no env",
    ),
    ("empty-without-container", job_spec(jobType="EMPTY"), "spec.container", "jobType EMPTY needs container"),
    (
        "operator-freeform-tag",
        job_spec(freeformTags={"team": "risk", "ocids.io/owner": "me"}),
        "spec.freeformTags",
        "freeformTags keys starting with ocids.io/ are the operator's own",
    ),
    (
        "unknown-flex-without-size",
        job_spec(infrastructure={"shape": "VM.Standard.E6.Flex"}),
        "spec.infrastructure.shape",
        "ocpus and memoryInGBs are required with a flex shape (a shape name ending in .Flex)",
    ),
    (
        "unknown-fixed-with-size",
        job_spec(infrastructure={"shape": "VM.GPU.L40S.2", "ocpus": 2, "memoryInGBs": 16}),
        "spec.infrastructure.shape",
        "ocpus and memoryInGBs can only be set with a flex shape (a shape name ending in .Flex)",
    ),
    (
        "known-flex-range-still-checked",
        job_spec(infrastructure={"shape": "VM.Optimized3.Flex", "ocpus": 20, "memoryInGBs": 40}),
        "spec.infrastructure.ocpus",
        "VM.Optimized3.Flex takes 1 to 18 ocpus",
    ),
    (
        "baseline-on-fixed-shape",
        job_spec(infrastructure={"shape": "VM.Standard2.1", "cpuBaseline": "BASELINE_1_2"}),
        "spec.infrastructure.cpuBaseline",
        "cpuBaseline can only be set with ocpus (a flex shape)",
    ),
    (
        "no-shape",
        job_spec(infrastructure={}),
        "spec.infrastructure.shape",
        "shape is required unless fastLaunch or computeTargetId is set",
    ),
    (
        "fast-launch-with-size-but-no-shape",
        job_spec(infrastructure={"fastLaunch": True, "ocpus": 2, "memoryInGBs": 16}),
        "spec.infrastructure.shape",
        "ocpus and memoryInGBs can only be set with a flex shape",
    ),
    (
        "fast-launch-flex-half-sized",
        job_spec(infrastructure={"fastLaunch": True, "shape": E4, "ocpus": 2}),
        "spec.infrastructure.shape",
        "ocpus and memoryInGBs are required with a flex shape",
    ),
    (
        "compute-target-with-shape",
        job_spec(infrastructure={"computeTargetId": CT, "shape": "VM.Standard2.1"}),
        "spec.infrastructure.computeTargetId",
        "computeTargetId cannot be combined with shape, ocpus, memoryInGBs, cpuBaseline, subnetId, "
        "capacityReservationId or fastLaunch",
    ),
    (
        "compute-target-with-subnet",
        job_spec(infrastructure={"computeTargetId": CT, "subnetId": "ocid1.subnet.oc1..a"}),
        "spec.infrastructure.computeTargetId",
        "computeTargetId cannot be combined with shape",
    ),
    (
        "compute-target-with-fast-launch",
        job_spec(infrastructure={"computeTargetId": CT, "fastLaunch": True}),
        "spec.infrastructure.computeTargetId",
        "computeTargetId cannot be combined with shape",
    ),
    (
        "resources-without-compute-target",
        job_spec(
            infrastructure={
                "shape": "VM.Standard2.1",
                "resources": {"requests": {"ocpus": 1, "memoryInGBs": 8}},
            }
        ),
        "spec.infrastructure.resources",
        "resources can only be set with computeTargetId",
    ),
    (
        "compute-target-without-resources",
        job_spec(infrastructure={"computeTargetId": CT}),
        "spec.infrastructure.resources",
        "resources.requests (ocpus and memoryInGBs) are required with computeTargetId",
    ),
    (
        "nodes-with-fast-launch",
        job_spec(infrastructure={"fastLaunch": True, "shape": "VM.Standard2.1"}, nodes=nodes()),
        "spec.nodes",
        "nodes cannot be combined with infrastructure.fastLaunch or infrastructure.computeTargetId",
    ),
    (
        "nodes-on-compute-target",
        job_spec(
            infrastructure={"computeTargetId": CT, "resources": {"requests": {"ocpus": 1, "memoryInGBs": 8}}},
            nodes=nodes(),
        ),
        "spec.nodes",
        "nodes cannot be combined with infrastructure.fastLaunch",
    ),
    (
        "min-success-above-replicas",
        job_spec(nodes=nodes({"name": "workers", "replicas": 2, "minimumSuccessReplicas": 3})),
        "spec.nodes.groups[0].minimumSuccessReplicas",
        "minimumSuccessReplicas must be at most replicas",
    ),
    (
        "group-flex-without-size",
        job_spec(nodes=nodes({"name": "workers", "replicas": 2, "infrastructure": {"shape": E4}})),
        "spec.nodes.groups[0].infrastructure.shape",
        "ocpus and memoryInGBs are required with a flex shape",
    ),
    # OCI refuses two mounts at one place: the default /mnt counts as written.
    (
        "two-mounts-at-one-place",
        job_spec(
            storageMounts=[
                {
                    "storageType": "OBJECT_STORAGE",
                    "namespace": "ns",
                    "bucket": "a",
                    "destinationDirectoryName": "data",
                },
                {
                    "storageType": "OBJECT_STORAGE",
                    "namespace": "ns",
                    "bucket": "b",
                    "destinationDirectoryName": "data",
                    "destinationPath": "/mnt",
                },
            ]
        ),
        "spec.storageMounts",
        "two mounts at the same destinationPath/destinationDirectoryName",
    ),
    (
        "mount-at-dot-dot",
        job_spec(
            storageMounts=[
                {
                    "storageType": "OBJECT_STORAGE",
                    "namespace": "ns",
                    "bucket": "a",
                    "destinationDirectoryName": "..",
                }
            ]
        ),
        "spec.storageMounts[0].destinationDirectoryName",
        "destinationDirectoryName must name a directory, not . or ..",
    ),
    (
        "mount-path-climbs",
        job_spec(
            storageMounts=[
                {
                    "storageType": "OBJECT_STORAGE",
                    "namespace": "ns",
                    "bucket": "a",
                    "destinationDirectoryName": "d",
                    "destinationPath": "/mnt/../etc",
                }
            ]
        ),
        "spec.storageMounts[0].destinationPath",
        "destinationPath must not contain a .. segment",
    ),
]


@pytest.mark.parametrize(
    ("spec", "path", "message"), [c[1:] for c in INVALID_JOBS], ids=[c[0] for c in INVALID_JOBS]
)
def test_cel_rejects_with_the_field_named(spec: dict[str, Any], path: str, message: str) -> None:
    found = violations(JOB_SPEC_SCHEMA, spec, path="spec")
    assert any(p == path and message in m for p, m in found), found


@pytest.mark.parametrize(
    ("spec", "path", "message"), [c[1:] for c in INVALID_JOBS], ids=[c[0] for c in INVALID_JOBS]
)
def test_model_rejects_with_the_same_words(spec: dict[str, Any], path: str, message: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(message)):
        TrainingJobSpec.model_validate(spec)


# Rejected by the OpenAPI part of the schema (patterns, ranges, enums, list sizes).
SCHEMA_INVALID = [
    (
        "mount-directory-with-slash",
        job_spec(
            storageMounts=[
                {
                    "storageType": "OBJECT_STORAGE",
                    "namespace": "ns",
                    "bucket": "a",
                    "destinationDirectoryName": "a/b",
                }
            ]
        ),
    ),
    # OCI takes registry/repository[:tag][@digest]: a bare name would only fail at CreateJob.
    ("bare-image-name", job_spec(conda=None, container={"image": "busybox"})),
    ("image-tag-without-repository", job_spec(conda=None, container={"image": "iad.ocir.io:1.0"})),
    ("shape-with-space", job_spec(infrastructure={"shape": "VM Standard 2"})),
    ("shape-too-long", job_spec(infrastructure={"shape": "VM." + "x" * 70})),
    (
        "bad-baseline",
        job_spec(infrastructure={"shape": E4, "ocpus": 2, "memoryInGBs": 8, "cpuBaseline": "1/8"}),
    ),
    (
        "capacity-reservation-not-one",
        job_spec(infrastructure={"shape": "VM.Standard2.1", "capacityReservationId": "ocid1.subnet.oc1..a"}),
    ),
    (
        "zero-gpus",
        job_spec(
            infrastructure={
                "computeTargetId": CT,
                "resources": {"requests": {"ocpus": 1, "memoryInGBs": 8, "gpus": 0}},
            }
        ),
    ),
    (
        "requests-without-memory",
        job_spec(infrastructure={"computeTargetId": CT, "resources": {"requests": {"ocpus": 1}}}),
    ),
    (
        "half-a-limit",
        job_spec(
            infrastructure={
                "computeTargetId": CT,
                "resources": {"requests": {"ocpus": 1, "memoryInGBs": 8}, "limits": {"ocpus": 2}},
            }
        ),
    ),
    ("bad-job-type", job_spec(jobType="NONE")),
    ("probe-without-command", job_spec(startupProbe={"periodInSeconds": 5})),
    ("probe-21-words", job_spec(startupProbe={"command": ["x"] * 21})),
    ("probe-period-0", job_spec(startupProbe={"command": ["true"], "periodInSeconds": 0})),
    ("signature-not-ocid", job_spec(container={**IMAGE, "imageSignatureId": "sig"})),
    ("no-groups", job_spec(nodes={"groups": []})),
    ("eleven-groups", job_spec(nodes={"groups": [{"name": f"g{i}", "replicas": 1} for i in range(11)]})),
    ("replicas-0", job_spec(nodes=nodes({"name": "w", "replicas": 0}))),
    ("replicas-129", job_spec(nodes=nodes({"name": "w", "replicas": 129}))),
    ("group-name-upper", job_spec(nodes=nodes({"name": "Workers", "replicas": 1}))),
    ("duplicate-groups", job_spec(nodes=nodes({"name": "w", "replicas": 1}, {"name": "w", "replicas": 2}))),
    ("bad-startup-order", job_spec(nodes=nodes(startupOrder="SEQUENTIAL"))),
    (
        "group-env-from-secret",
        job_spec(nodes=nodes({"name": "w", "replicas": 1, "env": [{"name": "A", "valueFrom": {}}]})),
    ),
    ("defined-tags-flat", job_spec(definedTags={"ns": "v"})),
]


@pytest.mark.parametrize("spec", [c[1] for c in SCHEMA_INVALID], ids=[c[0] for c in SCHEMA_INVALID])
def test_model_rejects_schema_invalid(spec: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        TrainingJobSpec.model_validate(spec)


def test_schema_carries_the_new_constraints() -> None:
    props = JOB_SPEC_SCHEMA["properties"]
    infra = props["infrastructure"]["properties"]
    assert "enum" not in infra["shape"] and infra["shape"]["maxLength"] == 64
    assert infra["cpuBaseline"]["enum"] == ["BASELINE_1_8", "BASELINE_1_2", "BASELINE_1_1"]
    assert infra["capacityReservationId"]["pattern"] == r"^ocid1\.capacityreservation\."
    assert infra["fastLaunch"]["default"] is False
    assert props["jobType"] == {**props["jobType"], "default": "DEFAULT", "enum": ["DEFAULT", "EMPTY"]}
    assert "artifact" not in JOB_SPEC_SCHEMA["required"]
    groups = props["nodes"]["properties"]["groups"]
    assert (groups["minItems"], groups["maxItems"]) == (1, 10)
    assert groups["x-kubernetes-list-map-keys"] == ["name"]
    assert props["nodes"]["properties"]["startupOrder"]["default"] == "IN_PARALLEL"
    probe = props["startupProbe"]["properties"]
    assert (probe["command"]["minItems"], probe["command"]["maxItems"]) == (1, 20)
    assert (probe["periodInSeconds"]["minimum"], probe["periodInSeconds"]["maximum"]) == (1, 3600)
    tags = props["definedTags"]
    assert tags["maxProperties"] == 64 and tags["additionalProperties"]["maxProperties"] == 64


VALID_JOBS = [
    ("container-without-artifact", no_artifact(container=IMAGE)),
    ("empty-container-job", no_artifact(container={**IMAGE, "args": ["--epochs", "3"]}, jobType="EMPTY")),
    ("empty-ignored-with-nodes", job_spec(jobType="EMPTY", env=[{"name": "A", "value": "1"}], nodes=nodes())),
    ("new-gpu-shape", job_spec(infrastructure={"shape": "VM.GPU.L40S.2"})),
    (
        "new-flex-shape",
        job_spec(infrastructure={"shape": "VM.Standard.E6.Flex", "ocpus": 126, "memoryInGBs": 1454}),
    ),
    (
        "burstable",
        job_spec(
            infrastructure={
                "shape": E4,
                "ocpus": 2,
                "memoryInGBs": 16,
                "cpuBaseline": "BASELINE_1_8",
                "capacityReservationId": "ocid1.capacityreservation.oc1..a",
            }
        ),
    ),
    ("fast-launch-any-shape", job_spec(infrastructure={"fastLaunch": True})),
    ("fast-launch-given-shape", job_spec(infrastructure={"fastLaunch": True, "shape": "VM.Standard2.1"})),
    ("fast-launch-flex-sized-by-config", job_spec(infrastructure={"fastLaunch": True, "shape": E4})),
    (
        "compute-target-resources",
        job_spec(
            infrastructure={
                "computeTargetId": CT,
                "resources": {
                    "requests": {"ocpus": 0.5, "memoryInGBs": 4, "gpus": 1},
                    "limits": {"ocpus": 2, "memoryInGBs": 8},
                },
            }
        ),
    ),
    (
        "probe-tags-signature",
        job_spec(
            startupProbe={
                "command": ["cat", "/tmp/ready"],
                "periodInSeconds": 5,
                "failureThreshold": 3,
                "initialDelayInSeconds": 0,
            },
            container={**IMAGE, "imageSignatureId": "ocid1.containerimagesignature.oc1..s"},
            freeformTags={"team": "risk", "ocids.io": "not-a-prefix-match"},
            definedTags={"Operations": {"CostCenter": "42"}},
        ),
    ),
    (
        "multi-node",
        job_spec(
            infrastructure={"shape": E4, "ocpus": 2, "memoryInGBs": 16, "subnetId": "ocid1.subnet.oc1..a"},
            nodes=nodes(
                {"name": "main", "replicas": 1, "infrastructure": {"shape": "VM.GPU.A10.2"}},
                {
                    "name": "workers",
                    "replicas": 4,
                    "minimumSuccessReplicas": 3,
                    "env": [{"name": "ROLE", "value": "worker"}],
                    "args": ["--worker"],
                },
                startupOrder="IN_ORDER",
            ),
        ),
    ),
]


@pytest.mark.parametrize("spec", [c[1] for c in VALID_JOBS], ids=[c[0] for c in VALID_JOBS])
def test_valid_jobs_pass_cel_and_model(spec: dict[str, Any]) -> None:
    assert violations(JOB_SPEC_SCHEMA, spec, path="spec") == []
    TrainingJobSpec.model_validate(spec)


RUN = {"jobRef": {"name": "a"}}
INVALID_RUNS: list[tuple[str, dict[str, Any], str, str]] = [
    (
        "empty-container-override",
        {**RUN, "container": {}},
        "spec.container",
        "container: set at least one of image, command, args, imageDigest or imageSignatureId",
    ),
    (
        "operator-tag",
        {**RUN, "freeformTags": {"ocids.io/trainingjobrun": "x"}},
        "spec.freeformTags",
        "freeformTags keys starting with ocids.io/ are the operator's own",
    ),
    (
        "group-min-success-above-replicas",
        {**RUN, "nodeGroups": [{"name": "w", "replicas": 1, "minimumSuccessReplicas": 2}]},
        "spec.nodeGroups[0].minimumSuccessReplicas",
        "minimumSuccessReplicas must be at most replicas",
    ),
    (
        "run-baseline-without-ocpus",
        {**RUN, "infrastructure": {"shape": "VM.GPU.A10.1", "cpuBaseline": "BASELINE_1_1"}},
        "spec.infrastructure.cpuBaseline",
        "cpuBaseline can only be set with ocpus",
    ),
]


@pytest.mark.parametrize(
    ("spec", "path", "message"), [c[1:] for c in INVALID_RUNS], ids=[c[0] for c in INVALID_RUNS]
)
def test_run_rules_in_cel_and_model(spec: dict[str, Any], path: str, message: str) -> None:
    found = violations(RUN_SPEC_SCHEMA, spec, path="spec")
    assert any(p == path and message in m for p, m in found), found
    with pytest.raises(ValidationError, match=re.escape(message)):
        TrainingJobRunSpec.model_validate(spec)


def test_valid_run_overrides() -> None:
    spec = {
        **RUN,
        "container": {"args": ["--lr", "0.1"]},
        "storageMounts": [],
        "freeformTags": {"experiment": "7"},
        "definedTags": {"Operations": {"CostCenter": "42"}},
        "nodeGroups": [{"name": "workers", "replicas": 2, "infrastructure": {"shape": "VM.GPU.L40S.2"}}],
        "infrastructure": {"shape": "VM.Standard.E6.Flex", "ocpus": 4, "memoryInGBs": 32},
    }
    assert violations(RUN_SPEC_SCHEMA, spec, path="spec") == []
    run = TrainingJobRunSpec.model_validate(spec)
    assert run.storage_mounts == [] and TrainingJobRunSpec.model_validate(RUN).storage_mounts is None
    with pytest.raises(ValidationError):
        TrainingJobRunSpec.model_validate({**RUN, "nodeGroups": [{"name": "w"}, {"name": "w"}]})


def test_multi_node_properties() -> None:
    single = TrainingJobSpec.model_validate(job_spec())
    assert not single.is_multi_node and single.total_replicas == 1
    multi = TrainingJobSpec.model_validate(
        job_spec(nodes=nodes({"name": "a", "replicas": 1}, {"name": "b", "replicas": 3}))
    )
    assert multi.is_multi_node and multi.total_replicas == 4
    assert multi.nodes is not None and multi.nodes.startup_order == "IN_PARALLEL"


def test_group_infrastructure_defaults_to_the_jobs() -> None:
    job = Infrastructure(
        shape=E4,
        ocpus=2,
        memory_in_gbs=16,
        cpu_baseline="BASELINE_1_2",
        block_storage_size_in_gbs=200,
        subnet_id="ocid1.subnet.oc1..a",
    )
    config = NodeConfiguration.model_validate(
        nodes(
            {"name": "plain", "replicas": 1},
            {"name": "gpu", "replicas": 2, "infrastructure": {"shape": "VM.GPU.A10.2"}},
        )
    )
    plain, gpu = config.groups
    assert plain.effective_infrastructure(job) == NodeInfrastructure(
        shape=E4, ocpus=2, memory_in_gbs=16, cpu_baseline="BASELINE_1_2", block_storage_size_in_gbs=200
    )
    assert gpu.effective_infrastructure(job) == NodeInfrastructure(
        shape="VM.GPU.A10.2", block_storage_size_in_gbs=200
    )


def test_run_node_group_overrides_merge_by_name() -> None:
    config = NodeConfiguration.model_validate(
        nodes(
            {
                "name": "workers",
                "replicas": 4,
                "minimumSuccessReplicas": 3,
                "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                "args": ["--job"],
                "infrastructure": {"shape": "VM.GPU.A10.2", "blockStorageSizeInGBs": 300},
            },
            {"name": "main", "replicas": 1},
            startupOrder="IN_ORDER",
        )
    )
    assert config.with_overrides(None) is config
    merged = config.with_overrides(
        [
            NodeGroupOverride.model_validate(
                {
                    "name": "workers",
                    "replicas": 2,
                    "env": [{"name": "B", "value": "20"}, {"name": "C", "value": "3"}],
                    "infrastructure": {"shape": "VM.GPU.L40S.2"},
                }
            )
        ]
    )
    workers, main = merged.groups
    assert merged.startup_order == "IN_ORDER" and main == config.groups[1]
    assert (workers.replicas, workers.minimum_success_replicas, workers.args) == (2, 2, ["--job"])
    assert [(v.name, v.value) for v in workers.env] == [("A", "1"), ("B", "20"), ("C", "3")]
    assert workers.infrastructure == NodeInfrastructure(shape="VM.GPU.L40S.2", block_storage_size_in_gbs=300)
    with pytest.raises(ValueError, match="no node group named trainers"):
        config.with_overrides([NodeGroupOverride(name="trainers", replicas=1)])


def test_run_infrastructure_override_keeps_the_jobs_reservation_and_leaves_fast_launch() -> None:
    job = Infrastructure(
        fast_launch=True,
        capacity_reservation_id="ocid1.capacityreservation.oc1..a",
        block_storage_size_in_gbs=80,
    )
    run = job.with_override(
        InfrastructureOverride(shape=E4, ocpus=2, memory_in_gbs=16, cpu_baseline="BASELINE_1_8")
    )
    assert (run.shape, run.ocpus, run.memory_in_gbs, run.cpu_baseline) == (E4, 2, 16, "BASELINE_1_8")
    assert (run.capacity_reservation_id, run.block_storage_size_in_gbs) == (
        "ocid1.capacityreservation.oc1..a",
        80,
    )
    assert not run.fast_launch and run.compute_target_id is None


def test_container_override_replaces_only_what_it_sets() -> None:
    job = Container(image="iad.ocir.io/ns/train:1", command=["python"], args=["train.py"])
    assert job.with_override(None) is job
    run = job.with_override(ContainerOverride(args=["train.py", "--lr", "0.1"]))
    assert (run.image, run.command, run.args) == (
        "iad.ocir.io/ns/train:1",
        ["python"],
        ["train.py", "--lr", "0.1"],
    )
    cleared = job.with_override(ContainerOverride(command=[]))
    assert cleared.command == [] and cleared.args == ["train.py"]

"""Every job variant reads back from OCI as the spec wrote it, through the SDK's own wire format.

A request is built by the mapping, serialized as the SDK sends it, answered as a `Job` the SDK
deserializes (OCI echoes what it was sent, plus what the `oci` tables say it fills in), and
observed again: the plan must be NOOP. A field read back differently would update the job in
place, or create a new revision, at every reconcile.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from oci.auth.signers import SecurityTokenSigner
from oci.base_client import BaseClient
from oci.data_science import models as ds
from oci.data_science.models import data_science_type_mapping
from ocids_operator.adapters import oci_mapping as mapping
from ocids_operator.api import TrainingJobRunSpec, TrainingJobSpec
from ocids_operator.core import model
from ocids_operator.core.job_plan import DesiredJob, JobAction, JobRecord, plan_job

REF = model.ObjectRef("ml", "attrition", "uid-1", "test")
JOB_ID = "ocid1.datasciencejob.oc1..current"
DIGEST = "sha256:" + "ab" * 32
SUBNET = "ocid1.subnet.oc1..sn"
RESERVATION = "ocid1.capacityreservation.oc1..cr"
TARGET = "ocid1.computetarget.oc1..ct"
SIGNATURE = "ocid1.containerimagesignature.oc1..sig"
IMAGE = "iad.ocir.io/ns/train:1.0"

BASE: dict[str, Any] = {
    "compartmentId": "ocid1.compartment.oc1..comp",
    "projectId": "ocid1.datascienceproject.oc1..proj",
    "artifact": {"inline": {"fileName": "train.py", "content": "print('hi')"}},
    "conda": {"type": "service", "slug": "generalml_p38_cpu_v1"},
    "infrastructure": {"shape": "VM.Standard.E4.Flex", "ocpus": 2, "memoryInGBs": 32},
    "env": [{"name": "EPOCHS", "value": "10"}],
    "args": ["--epochs", "10"],
    "maximumRuntimeInMinutes": 120,
    "freeformTags": {"team": "risk"},
}
CONTAINER_JOB = {"artifact": None, "conda": None, "container": {"image": IMAGE, "args": ["train"]}}
TWO_GROUPS = {
    "startupOrder": "IN_ORDER",
    "groups": [
        {"name": "main", "replicas": 1, "env": [{"name": "ROLE", "value": "main"}]},
        {
            "name": "workers",
            "replicas": 3,
            "minimumSuccessReplicas": 2,
            "infrastructure": {"shape": "VM.GPU.A10.2"},
            "env": [{"name": "EPOCHS", "value": "20"}, {"name": "ROLE", "value": "worker"}],
            "args": ["--worker"],
        },
    ],
}

# One row per variant: a JSON merge patch over BASE (null removes a field).
VARIANTS = [
    pytest.param({}, id="ME_STANDALONE flex (managed egress)"),
    pytest.param({"infrastructure": {"subnetId": SUBNET}}, id="STANDALONE with a subnet"),
    pytest.param(
        {"infrastructure": {"shape": "VM.Standard2.4", "ocpus": None, "memoryInGBs": None}}, id="fixed shape"
    ),
    pytest.param(
        {"infrastructure": {"cpuBaseline": "BASELINE_1_2", "capacityReservationId": RESERVATION}},
        id="cpuBaseline and capacity reservation (ME_STANDALONE)",
    ),
    pytest.param(
        {
            "infrastructure": {
                "subnetId": SUBNET,
                "cpuBaseline": "BASELINE_1_8",
                "capacityReservationId": RESERVATION,
            }
        },
        id="cpuBaseline and capacity reservation (STANDALONE)",
    ),
    pytest.param(
        {
            "infrastructure": {
                "shape": None,
                "ocpus": None,
                "memoryInGBs": None,
                "computeTargetId": TARGET,
                "resources": {
                    "requests": {"ocpus": 2, "memoryInGBs": 16, "gpus": 1},
                    "limits": {"ocpus": 4, "memoryInGBs": 32},
                },
            }
        },
        id="compute target with requests and limits",
    ),
    pytest.param(
        {
            "infrastructure": {
                "shape": None,
                "ocpus": None,
                "memoryInGBs": None,
                "computeTargetId": TARGET,
                "resources": {"requests": {"ocpus": 1, "memoryInGBs": 16}},
            }
        },
        id="compute target with requests only",
    ),
    pytest.param(
        {
            **CONTAINER_JOB,
            "container": {
                "image": IMAGE,
                "command": ["python", "-m"],
                "args": ["train"],
                "imageDigest": "sha256:" + "0" * 64,
                "imageSignatureId": SIGNATURE,
            },
        },
        id="container without artifact, digest and signature",
    ),
    pytest.param(
        {**CONTAINER_JOB, "jobType": "EMPTY", "env": None, "args": None, "maximumRuntimeInMinutes": None},
        id="jobType EMPTY",
    ),
    pytest.param({"startupProbe": {"command": ["cat", "/tmp/ready"]}}, id="startup probe, OCI's defaults"),
    pytest.param(
        {
            "startupProbe": {
                "command": ["test", "-f", "/tmp/ready"],
                "periodInSeconds": 5,
                "failureThreshold": 3,
                "initialDelayInSeconds": 0,
            }
        },
        id="startup probe, every field",
    ),
    pytest.param(
        {"definedTags": {"Finance": {"CostCenter": "42"}, "Ops": {"Owner": "ml"}}}, id="defined tags"
    ),
    pytest.param(
        {
            "storageMounts": [
                {
                    "storageType": "OBJECT_STORAGE",
                    "destinationDirectoryName": "data",
                    "destinationPath": "/mnt",
                    "namespace": "ns",
                    "bucket": "training",
                    "prefix": "v1/",
                },
                {
                    "storageType": "FILE_STORAGE",
                    "destinationDirectoryName": "shared",
                    "mountTargetId": "ocid1.mounttarget.oc1..mt",
                    "exportId": "ocid1.export.oc1..ex",
                },
            ]
        },
        id="storage mounts",
    ),
    pytest.param(
        {"logging": {"enabled": True, "logGroupId": "ocid1.loggroup.oc1..g", "autoCreateLog": True}},
        id="logging",
    ),
    pytest.param(
        {"nodes": {"groups": [{"name": "workers", "replicas": 3}]}},
        id="multi-node, one group, default network",
    ),
    pytest.param(
        {
            **CONTAINER_JOB,
            "infrastructure": {
                "subnetId": SUBNET,
                "cpuBaseline": "BASELINE_1_2",
                "capacityReservationId": RESERVATION,
            },
            "startupProbe": {"command": ["cat", "/tmp/ready"], "periodInSeconds": 2},
            "nodes": TWO_GROUPS,
            "definedTags": {"Finance": {"CostCenter": "42"}},
            "logging": {"enabled": True, "logGroupId": "ocid1.loggroup.oc1..g", "logId": "ocid1.log.oc1..l"},
        },
        id="multi-node, two groups, custom network, probe, container",
    ),
]


def merge(base: Any, patch: Any) -> Any:
    """JSON merge patch (RFC 7386)."""
    if not isinstance(patch, dict) or not isinstance(base, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(base)
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge(result.get(key), value)
    return result


def spec_of(patch: dict[str, Any]) -> TrainingJobSpec:
    return TrainingJobSpec.model_validate(merge(BASE, patch))


def user_env(spec: TrainingJobSpec) -> dict[str, str]:
    return {var.name: var.value for var in spec.env if var.value is not None}


def desired_of(spec: TrainingJobSpec) -> DesiredJob:
    digest = DIGEST if spec.artifact else None
    return DesiredJob(spec, REF, model.desired_template(spec, user_env(spec)), digest)


@pytest.fixture(scope="module")
def sdk() -> BaseClient:
    """The SDK's own (de)serializer, as the DataScienceClient uses it; it never sends anything."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return BaseClient(
        "data_science",
        {"region": "us-ashburn-1"},
        signer=SecurityTokenSigner("token", key),
        type_mapping=data_science_type_mapping,
        service_endpoint="https://datascience.invalid",
    )


def to_wire(sdk: BaseClient, details: Any) -> dict[str, Any]:
    wire = sdk.sanitize_for_serialization(details)
    return json.loads(json.dumps(wire))  # exactly what goes over the wire


def job_from_wire(sdk: BaseClient, body: dict[str, Any]) -> ds.Job:
    answer = {**body, "id": JOB_ID, "lifecycleState": "ACTIVE", "timeCreated": "2026-01-01T00:00:00Z"}
    job = sdk.deserialize_response_data(json.dumps(answer).encode(), "Job")
    assert isinstance(job, ds.Job)
    return job


def created(sdk: BaseClient, desired: DesiredJob) -> dict[str, Any]:
    spec = desired.spec
    request = model.JobRequest(spec, REF, user_env(spec), 1, desired.template_hash)
    return to_wire(sdk, mapping.create_job_details(request))


def updated(sdk: BaseClient, desired: DesiredJob, body: dict[str, Any]) -> dict[str, Any]:
    """`body` after UpdateJob: each field sent replaces OCI's."""
    update = to_wire(
        sdk, mapping.update_job_details(model.JobUpdate(desired.spec, REF, 1, desired.template_hash))
    )
    return {**body, **update}


def plan(desired: DesiredJob, job: ds.Job) -> Any:
    return plan_job(desired, JobRecord(JOB_ID, 1), mapping.observe_job(job))


@pytest.mark.parametrize("patch", VARIANTS)
def test_a_created_job_reads_back_as_its_spec(sdk: BaseClient, patch: dict[str, Any]) -> None:
    desired = desired_of(spec_of(patch))
    observed = mapping.observe_job(job_from_wire(sdk, created(sdk, desired)))
    assert observed.template == desired.template  # what adoption compares
    assert observed.in_place == desired.in_place(1)  # exactly, before any default is taken from OCI
    assert observed.template_hash == desired.template_hash
    assert plan(desired, job_from_wire(sdk, created(sdk, desired))).action is JobAction.NOOP


@pytest.mark.parametrize("patch", VARIANTS)
def test_an_updated_job_reads_back_as_its_spec(sdk: BaseClient, patch: dict[str, Any]) -> None:
    desired = desired_of(spec_of(patch))
    body = updated(sdk, desired, created(sdk, desired))
    result = plan(desired, job_from_wire(sdk, body))
    assert result.action is JobAction.NOOP, result


@pytest.mark.parametrize(
    ("patch", "oci_fills"),
    [
        pytest.param(
            {
                "storageMounts": [
                    {
                        "storageType": "OBJECT_STORAGE",
                        "destinationDirectoryName": "d",
                        "namespace": "n",
                        "bucket": "b",
                    }
                ]
            },
            {
                "jobStorageMountConfigurationDetailsList": [
                    {
                        "storageType": "OBJECT_STORAGE",
                        "destinationDirectoryName": "d",
                        "destinationPath": "/mnt",
                        "namespace": "n",
                        "bucket": "b",
                    }
                ]
            },
            id="a mount's destinationPath",
        ),
        pytest.param(
            {},
            {
                "jobInfrastructureConfigurationDetails": {
                    "jobInfrastructureType": "ME_STANDALONE",
                    "shapeName": "VM.Standard.E4.Flex",
                    "blockStorageSizeInGBs": 50,
                    "jobShapeConfigDetails": {"ocpus": 2, "memoryInGBs": 32, "cpuBaseline": "BASELINE_1_1"},
                }
            },
            id="cpuBaseline BASELINE_1_1 (not burstable)",
        ),
        pytest.param(
            {
                "infrastructure": {
                    "shape": None,
                    "ocpus": None,
                    "memoryInGBs": None,
                    "computeTargetId": TARGET,
                    "resources": {"requests": {"ocpus": 1, "memoryInGBs": 16, "gpus": 1}},
                }
            },
            {
                "jobInfrastructureConfigurationDetails": {
                    "jobInfrastructureType": "MANAGED_COMPUTE_CLUSTER",
                    "computeTargetId": TARGET,
                    "resourceConfiguration": {
                        "resourceRequestConfiguration": {"ocpus": 1, "memoryInGBs": 16, "gpus": 1},
                        "resourceLimitConfiguration": {"ocpus": 1, "memoryInGBs": 16},
                    },
                }
            },
            id="a compute target's unset requests and limits",
        ),
        pytest.param(
            {"definedTags": {"Finance": {"CostCenter": "42"}}},
            {
                "definedTags": {
                    "Finance": {"CostCenter": "42"},
                    "Oracle-Tags": {"CreatedBy": "someone", "CreatedOn": "2026-01-01T00:00:00Z"},
                }
            },
            id="OCI's own tag defaults (Oracle-Tags)",
        ),
        pytest.param(
            {},
            {"definedTags": {"Finance": {"CostCenter": "7"}}},
            id="defined tags, when the spec sets none",
        ),
        pytest.param(
            {"nodes": {"groups": [{"name": "workers", "replicas": 3}]}},
            {"jobInfrastructureConfigurationDetails": {"jobInfrastructureType": "MULTI_NODE"}},
            id="a multi-node job's job-level infrastructure placeholder",
        ),
        pytest.param(
            {"nodes": {"groups": [{"name": "workers", "replicas": 3}]}},
            {
                "jobConfigurationDetails": {"jobType": "EMPTY"},
                "jobInfrastructureConfigurationDetails": {"jobInfrastructureType": "EMPTY"},
            },
            id="a multi-node job's EMPTY job-level placeholders (as the emulator answers)",
        ),
    ],
)
def test_what_oci_fills_in_is_not_an_update(
    sdk: BaseClient, patch: dict[str, Any], oci_fills: dict[str, Any]
) -> None:
    desired = desired_of(spec_of(patch))
    result = plan(desired, job_from_wire(sdk, {**created(sdk, desired), **oci_fills}))
    assert result.action is JobAction.NOOP, result


def test_a_flex_memory_oci_filled_in_is_not_an_update(sdk: BaseClient) -> None:
    # A fast-launch config may give only ocpus: the emulator (and OCI) fill in the memory.
    spec = spec_of({})
    infra = spec.infrastructure.model_copy(update={"memory_in_gbs": None})
    desired = desired_of(spec.model_copy(update={"infrastructure": infra}))
    body = created(sdk, desired)
    body["jobInfrastructureConfigurationDetails"]["jobShapeConfigDetails"]["memoryInGBs"] = 32.0
    assert plan(desired, job_from_wire(sdk, body)).action is JobAction.NOOP


CONTAINER_SIGNED = {**CONTAINER_JOB, "container": {"image": IMAGE, "imageSignatureId": SIGNATURE}}
EMPTY_JOB = {**CONTAINER_JOB, "jobType": "EMPTY", "env": None, "args": None, "maximumRuntimeInMinutes": None}
MULTI_NODE = {"infrastructure": {"subnetId": SUBNET}, "nodes": TWO_GROUPS}
TAGGED = {"definedTags": {"Finance": {"CostCenter": "42"}}}
WORKERS = TWO_GROUPS["groups"][1]


@pytest.mark.parametrize(
    ("start", "edit", "action", "changes"),
    [
        pytest.param(
            {},
            {"infrastructure": {"cpuBaseline": "BASELINE_1_2"}},
            JobAction.UPDATE,
            ["infrastructure"],
            id="cpuBaseline: in place",
        ),
        pytest.param(
            {},
            {"infrastructure": {"capacityReservationId": RESERVATION}},
            JobAction.UPDATE,
            ["infrastructure"],
            id="capacity reservation: in place",
        ),
        pytest.param(
            TAGGED,
            {"definedTags": {"Finance": {"CostCenter": "43"}}},
            JobAction.UPDATE,
            ["definedTags"],
            id="defined tags: in place",
        ),
        pytest.param(
            {},
            {"startupProbe": {"command": ["true"]}},
            JobAction.NEW_REVISION,
            ["startupProbe"],
            id="startup probe: new revision",
        ),
        pytest.param(
            EMPTY_JOB, {"jobType": "DEFAULT"}, JobAction.NEW_REVISION, ["jobType"], id="jobType: new revision"
        ),
        pytest.param(
            CONTAINER_SIGNED,
            {"container": {"imageSignatureId": SIGNATURE + "x"}},
            JobAction.NEW_REVISION,
            ["imageSignatureId"],
            id="image signature: new revision",
        ),
        pytest.param(
            MULTI_NODE,
            {"nodes": {"groups": [TWO_GROUPS["groups"][0], {**WORKERS, "replicas": 4}]}},
            JobAction.NEW_REVISION,
            ["nodes.groups[workers].replicas"],
            id="a group's replicas: new revision",
        ),
        pytest.param(
            MULTI_NODE,
            {"infrastructure": {"ocpus": 4, "memoryInGBs": 64}},
            JobAction.NEW_REVISION,
            ["nodes.groups[main].infrastructure"],
            id="a multi-node job's default compute: new revision",
        ),
        pytest.param(
            MULTI_NODE,
            {"infrastructure": {"subnetId": None}},
            JobAction.NEW_REVISION,
            ["infrastructure.subnetId"],
            id="a multi-node job's network: new revision",
        ),
        pytest.param(
            MULTI_NODE,
            {"env": [{"name": "EPOCHS", "value": "11"}]},
            JobAction.NEW_REVISION,
            ["nodes.groups[main].env"],
            id="job env a group does not override: new revision",
        ),
        pytest.param(
            MULTI_NODE,
            {"nodes": {"startupOrder": "IN_PARALLEL"}},
            JobAction.NEW_REVISION,
            ["nodes.startupOrder"],
            id="startup order: new revision",
        ),
        pytest.param(
            MULTI_NODE,
            {"displayName": "renamed"},
            JobAction.UPDATE,
            ["displayName"],
            id="a multi-node job's name: in place",
        ),
    ],
)
def test_a_change_is_applied_where_oci_allows_it(
    sdk: BaseClient, start: dict[str, Any], edit: dict[str, Any], action: JobAction, changes: list[str]
) -> None:
    """The OCI job was made from `start`; the user then applies `edit`."""
    current = created(sdk, desired_of(spec_of(start)))
    desired = desired_of(spec_of(merge(start, edit)))
    result = plan(desired, job_from_wire(sdk, current))
    assert (result.action, list(result.changes)) == (action, changes)
    if action is JobAction.UPDATE:  # and once updated, it stays put
        assert plan(desired, job_from_wire(sdk, updated(sdk, desired, current))).action is JobAction.NOOP


def test_a_multi_node_job_is_sent_as_ads_sends_it(sdk: BaseClient) -> None:
    spec = spec_of(VARIANTS[-1].values[0])
    body = created(sdk, desired_of(spec))
    for absent in (
        "jobConfigurationDetails",
        "jobInfrastructureConfigurationDetails",
        "jobEnvironmentConfigurationDetails",
    ):
        assert absent not in body
    nodes = body["jobNodeConfigurationDetails"]
    assert nodes["jobNodeType"] == "MULTI_NODE"
    assert nodes["startupOrder"] == "IN_ORDER"
    assert nodes["maximumRuntimeInMinutes"] == 120
    assert nodes["jobNetworkConfiguration"] == {"jobNetworkType": "CUSTOM_NETWORK", "subnetId": SUBNET}
    main, workers = nodes["jobNodeGroupConfigurationDetailsList"]
    assert (main["name"], main["replicas"], main["minimumSuccessReplicas"]) == ("main", 1, 1)
    assert (workers["replicas"], workers["minimumSuccessReplicas"]) == (3, 2)
    assert main["jobInfrastructureConfigurationDetails"] == {
        "jobInfrastructureType": "MULTI_NODE",
        "shapeName": "VM.Standard.E4.Flex",
        "blockStorageSizeInGBs": 50,
        "capacityReservationIds": [RESERVATION],
        "jobShapeConfigDetails": {"ocpus": 2.0, "memoryInGBs": 32.0, "cpuBaseline": "BASELINE_1_2"},
    }
    assert workers["jobInfrastructureConfigurationDetails"]["shapeName"] == "VM.GPU.A10.2"
    assert "jobShapeConfigDetails" not in workers["jobInfrastructureConfigurationDetails"]
    assert main["jobConfigurationDetails"]["environmentVariables"] == {"EPOCHS": "10", "ROLE": "main"}
    assert main["jobConfigurationDetails"]["commandLineArguments"] == "--epochs 10"
    assert workers["jobConfigurationDetails"]["environmentVariables"] == {"EPOCHS": "20", "ROLE": "worker"}
    assert workers["jobConfigurationDetails"]["commandLineArguments"] == "--worker"
    for group in (main, workers):
        assert group["jobConfigurationDetails"]["startupProbeDetails"] == {
            "jobProbeCheckType": "EXEC",
            "command": ["cat", "/tmp/ready"],
            "periodInSeconds": 2,
        }
        assert group["jobEnvironmentConfigurationDetails"]["image"] == IMAGE
    update = to_wire(sdk, mapping.update_job_details(model.JobUpdate(spec, REF, 1, "h")))
    assert "jobInfrastructureConfigurationDetails" not in update
    assert update["definedTags"] == {"Finance": {"CostCenter": "42"}}


def test_the_operators_tags_win_over_the_users(sdk: BaseClient) -> None:
    spec = spec_of({})
    # The API refuses ocids.io/ keys; a spec that got past it anyway still cannot take them over.
    spec = spec.model_copy(
        update={"freeform_tags": {"team": "risk", model.TAG_UID: "mine", model.TAG_REVISION: "9"}}
    )
    tags = created(sdk, desired_of(spec))["freeformTags"]
    assert (tags["team"], tags[model.TAG_UID], tags[model.TAG_REVISION]) == ("risk", "uid-1", "1")
    run = TrainingJobRunSpec.model_validate(
        {"jobRef": {"name": "attrition"}, "freeformTags": {"owner": "ana"}}
    )
    run = run.model_copy(update={"freeform_tags": {"owner": "ana", model.TAG_UID: "mine"}})
    body = to_wire(sdk, mapping.create_job_run_details(model.RunRequest(run, spec, REF, JOB_ID, {}, {})))
    assert body["freeformTags"] == {"owner": "ana", **model.ownership_tags(REF)}


def test_the_first_templates_hashes_do_not_change() -> None:
    """Jobs made before the later template fields keep their hash: no new revision on an upgrade."""
    container = spec_of(
        {
            **CONTAINER_JOB,
            "artifact": BASE["artifact"],
            "container": {"image": "iad.ocir.io/ns/train:1", "command": ["python"], "args": ["a"]},
            "env": None,
            "freeformTags": None,
            "args": ["--epochs", "3"],
            "maximumRuntimeInMinutes": 60,
            "logging": {"enabled": True, "logGroupId": "ocid1.loggroup.oc1..g", "autoCreateLog": True},
        }
    )
    assert model.template_hash(model.desired_template(container, {"A": "1"}), "sha256:abc") == (
        "065f23ec95b457a600a55ef5fb40cec1"
    )
    fixed = spec_of(
        {
            "conda": {"slug": "s"},
            "infrastructure": {"shape": "VM.Standard2.1", "ocpus": None, "memoryInGBs": None},
            "env": None,
            "args": None,
            "maximumRuntimeInMinutes": None,
        }
    )
    assert (
        model.template_hash(model.desired_template(fixed, {}), "sha256:abc")
        == "f2d783b258a593c919185f43dcae14ea"
    )


def test_run_requests_pass_the_sdks_own_round_trip(sdk: BaseClient) -> None:
    """A multi-node run with every override, and a single-node one, as the SDK sends and reads them."""
    multi = spec_of(VARIANTS[-1].values[0])
    run = TrainingJobRunSpec.model_validate(
        {
            "jobRef": {"name": "attrition"},
            "env": [{"name": "SEED", "value": "1"}],
            "container": {"args": ["eval"]},
            "storageMounts": [],
            "nodeGroups": [{"name": "workers", "replicas": 2, "infrastructure": {"shape": "VM.GPU.A10.1"}}],
            "definedTags": {"Finance": {"CostCenter": "7"}},
        }
    )
    single = spec_of({"infrastructure": {"subnetId": SUBNET, "capacityReservationId": RESERVATION}})
    single_run = TrainingJobRunSpec.model_validate(
        {
            "jobRef": {"name": "attrition"},
            "infrastructure": {
                "shape": "VM.Standard.E4.Flex",
                "ocpus": 1,
                "memoryInGBs": 8,
                "cpuBaseline": "BASELINE_1_8",
            },
        }
    )
    bodies = []
    for job, this_run in ((multi, run), (single, single_run)):
        request = model.RunRequest(this_run, job, REF, JOB_ID, user_env(job), {"SEED": "1"})
        wire = to_wire(sdk, mapping.create_job_run_details(request))
        back = sdk.deserialize_response_data(json.dumps(wire).encode(), "CreateJobRunDetails")
        assert to_wire(sdk, back) == wire
        bodies.append(wire)
    body = bodies[0]
    assert body["jobStorageMountConfigurationOverrideDetailsList"] == []
    assert body["definedTags"] == {"Finance": {"CostCenter": "7"}}
    main, workers = body["jobNodeConfigurationOverrideDetails"]["jobNodeGroupConfigurationDetailsList"]
    assert workers["replicas"] == workers["minimumSuccessReplicas"] == 2
    assert workers["jobInfrastructureConfigurationDetails"]["capacityReservationIds"] == [RESERVATION]
    assert main["jobEnvironmentConfigurationDetails"]["cmd"] == ["eval"]
    assert main["jobConfigurationDetails"]["environmentVariables"]["SEED"] == "1"


def test_run_view_reads_node_groups_from_a_job_run_only(sdk: BaseClient) -> None:
    body = {
        "id": "ocid1.datasciencejobrun.oc1..r",
        "jobId": JOB_ID,
        "compartmentId": "ocid1.compartment.oc1..comp",
        "projectId": "ocid1.datascienceproject.oc1..proj",
        "lifecycleState": "IN_PROGRESS",
        "timeAccepted": "2026-01-01T00:00:00Z",
        "nodeGroupDetailsList": [
            {"name": "main", "lifecycleState": "ACTIVE"},
            {
                "name": "workers",
                "lifecycleState": "FAILED",
                "lifecycleDetails": "Job run artifact execution failed with exit code 3.",
            },
        ],
    }
    run = sdk.deserialize_response_data(json.dumps(body).encode(), "JobRun")
    assert mapping.run_view(run).node_groups == (
        ("main", "ACTIVE", None),
        ("workers", "FAILED", "Job run artifact execution failed with exit code 3."),
    )
    summary = sdk.deserialize_response_data(json.dumps(body).encode(), "JobRunSummary")
    assert mapping.run_view(summary).node_groups == ()

"""Every validation rule, checked twice: by the CRD's CEL (evaluated offline) and by the pydantic model.

Both must reject the same inputs, with the same words, so the operator never reads a spec the API
server would have refused, and vice versa.
"""

from __future__ import annotations

from typing import Any

import pytest
from api_cel_eval import program, violations
from api_samples import DESIGN_JOB, DESIGN_RUN, job_spec
from ocids_codegen.crdgen import crd
from ocids_operator.api import TRAINING_JOB, TRAINING_JOB_RUN, TrainingJobRunSpec, TrainingJobSpec
from pydantic import ValidationError

JOB_SPEC_SCHEMA = crd(TRAINING_JOB)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
RUN_SPEC_SCHEMA = crd(TRAINING_JOB_RUN)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"][
    "spec"
]

INLINE = {"fileName": "train.py", "content": "print(1)"}
E4 = "VM.Standard.E4.Flex"

# (id, spec, path the API server names, message)
INVALID_JOBS: list[tuple[str, dict[str, Any], str, str]] = [
    (
        "two-artifact-sources",
        job_spec(artifact={"inline": INLINE, "url": "https://example.com/a.zip"}),
        "spec.artifact",
        "exactly one of inline, configMapRef, url, urlFrom or git must be set",
    ),
    (
        "no-artifact-source",
        job_spec(artifact={}),
        "spec.artifact",
        "exactly one of inline, configMapRef, url, urlFrom or git",
    ),
    (
        "url-and-url-from",
        job_spec(
            artifact={
                "url": "https://example.com/a.zip",
                "urlFrom": {"secretKeyRef": {"name": "s", "key": "k"}},
            }
        ),
        "spec.artifact.urlFrom",
        "url and urlFrom cannot both be set",
    ),
    (
        "conda-and-container",
        job_spec(conda={"type": "service", "slug": "generalml_p38_cpu_v1"}, container={"image": "x/y:1"}),
        "spec.container",
        "conda and container cannot both be set",
    ),
    (
        "ocpus-on-fixed-shape",
        job_spec(infrastructure={"shape": "VM.Standard2.1", "ocpus": 2}),
        "spec.infrastructure.shape",
        "ocpus and memoryInGBs can only be set with a flex shape",
    ),
    (
        "flex-without-ocpus",
        job_spec(infrastructure={"shape": E4}),
        "spec.infrastructure.shape",
        "ocpus and memoryInGBs are required with a flex shape",
    ),
    (
        "ocpus-above-shape-max",
        job_spec(infrastructure={"shape": "VM.Optimized3.Flex", "ocpus": 20, "memoryInGBs": 40}),
        "spec.infrastructure.ocpus",
        "VM.Optimized3.Flex takes 1 to 18 ocpus",
    ),
    (
        "memory-above-shape-max",
        job_spec(infrastructure={"shape": "VM.Standard3.Flex", "ocpus": 32, "memoryInGBs": 600}),
        "spec.infrastructure.memoryInGBs",
        "VM.Standard3.Flex takes 1 to 512 GB of memory",
    ),
    (
        "memory-per-ocpu",
        job_spec(infrastructure={"shape": E4, "ocpus": 1, "memoryInGBs": 100}),
        "spec.infrastructure.memoryInGBs",
        "memoryInGBs must be at most 64 GB per OCPU",
    ),
    (
        "memory-below-1gb-per-ocpu",
        job_spec(infrastructure={"shape": E4, "ocpus": 16, "memoryInGBs": 8}),
        "spec.infrastructure.memoryInGBs",
        "memoryInGBs must be at least 1 GB per OCPU",
    ),
    (
        "env-value-and-value-from",
        job_spec(env=[{"name": "A", "value": "1", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]),
        "spec.env[0]",
        "exactly one of value or valueFrom must be set",
    ),
    ("env-without-value", job_spec(env=[{"name": "A"}]), "spec.env[0]", "exactly one of value or valueFrom"),
    (
        "env-two-sources",
        job_spec(
            env=[
                {
                    "name": "A",
                    "valueFrom": {
                        "secretKeyRef": {"name": "s", "key": "k"},
                        "configMapKeyRef": {"name": "c", "key": "k"},
                    },
                }
            ]
        ),
        "spec.env[0].valueFrom",
        "exactly one of secretKeyRef, configMapKeyRef or vaultSecretRef must be set",
    ),
    (
        "service-conda-without-slug",
        job_spec(conda={"type": "service"}),
        "spec.conda.slug",
        "slug is required for a service conda environment",
    ),
    (
        "published-conda-without-uri",
        job_spec(conda={"type": "published", "slug": "mine"}),
        "spec.conda.uri",
        "uri is required for a published conda environment",
    ),
    (
        "logging-without-group",
        job_spec(logging={"enabled": True, "autoCreateLog": True}),
        "spec.logging.logGroupId",
        "logGroupId is required when logging is enabled",
    ),
    (
        "logging-without-log",
        job_spec(logging={"enabled": True, "logGroupId": "ocid1.loggroup.oc1..a"}),
        "spec.logging.logId",
        "set logId or autoCreateLog when logging is enabled",
    ),
    (
        "object-storage-without-bucket",
        job_spec(
            storageMounts=[
                {"storageType": "OBJECT_STORAGE", "namespace": "n", "destinationDirectoryName": "d"}
            ]
        ),
        "spec.storageMounts[0]",
        "OBJECT_STORAGE takes namespace and bucket",
    ),
    (
        "file-storage-with-bucket",
        job_spec(
            storageMounts=[
                {
                    "storageType": "FILE_STORAGE",
                    "mountTargetId": "ocid1.mounttarget.oc1..a",
                    "exportId": "ocid1.export.oc1..a",
                    "bucket": "b",
                    "destinationDirectoryName": "d",
                }
            ]
        ),
        "spec.storageMounts[0]",
        "FILE_STORAGE takes mountTargetId and exportId",
    ),
]


@pytest.mark.parametrize(
    ("spec", "path", "message"), [c[1:] for c in INVALID_JOBS], ids=[c[0] for c in INVALID_JOBS]
)
def test_cel_rejects_invalid_job_with_field_and_message(
    spec: dict[str, Any], path: str, message: str
) -> None:
    found = violations(JOB_SPEC_SCHEMA, spec, path="spec")
    assert any(p == path and message in m for p, m in found), found


@pytest.mark.parametrize(
    ("spec", "path", "message"), [c[1:] for c in INVALID_JOBS], ids=[c[0] for c in INVALID_JOBS]
)
def test_model_rejects_what_cel_rejects(spec: dict[str, Any], path: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message.split(":")[0][:40]):
        TrainingJobSpec.model_validate(spec)


# Rejected by the OpenAPI part of the schema (not CEL): check the schema says so and the model agrees.
SCHEMA_INVALID = [
    ("block-storage-40", job_spec(infrastructure={"shape": "VM.Standard2.1", "blockStorageSizeInGBs": 40})),
    ("shape-with-a-space", job_spec(infrastructure={"shape": "VM Standard"})),
    ("bad-env-name", job_spec(env=[{"name": "1-BAD", "value": "x"}])),
    ("max-runtime-0", job_spec(maximumRuntimeInMinutes=0)),
    ("duplicate-env", job_spec(env=[{"name": "A", "value": "1"}, {"name": "A", "value": "2"}])),
    ("compartment-not-ocid", job_spec(compartmentId="my-compartment")),
    ("unknown-deletion-policy", job_spec(deletionPolicy="Keep")),
]


@pytest.mark.parametrize("spec", [c[1] for c in SCHEMA_INVALID], ids=[c[0] for c in SCHEMA_INVALID])
def test_model_rejects_schema_invalid(spec: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        TrainingJobSpec.model_validate(spec)


def test_schema_carries_the_openapi_constraints() -> None:
    props = JOB_SPEC_SCHEMA["properties"]
    infra = props["infrastructure"]["properties"]
    assert infra["blockStorageSizeInGBs"]["minimum"] == 50
    assert infra["blockStorageSizeInGBs"]["default"] == 50
    # Any shape OCI offers: a name pattern, no enum (the operator asks OCI whether the name exists).
    assert "enum" not in infra["shape"]
    assert infra["shape"]["pattern"] == "^[A-Za-z0-9][A-Za-z0-9._-]*$"
    assert props["env"]["items"]["properties"]["name"]["pattern"] == "^[A-Za-z_][A-Za-z0-9_]*$"
    assert props["env"]["x-kubernetes-list-type"] == "map"
    assert props["env"]["x-kubernetes-list-map-keys"] == ["name"]
    assert props["maximumRuntimeInMinutes"]["minimum"] == 1
    assert props["deletionPolicy"] == {
        "default": "Delete",
        "description": props["deletionPolicy"]["description"],
        "enum": ["Delete", "Retain"],
        "type": "string",
    }


VALID_JOBS = [
    ("minimal", job_spec()),
    ("design-doc", DESIGN_JOB["spec"]),
    ("flex-float-ocpus", job_spec(infrastructure={"shape": E4, "ocpus": 1.5, "memoryInGBs": 96})),
    ("configmap", job_spec(artifact={"configMapRef": {"name": "code", "key": "train.zip"}})),
    (
        "container",
        job_spec(container={"image": "iad.ocir.io/ns/train:1", "command": ["python"], "args": ["x"]}),
    ),
    ("published-conda", job_spec(conda={"type": "published", "uri": "oci://b@ns/envs/mine.tar.gz"})),
    ("logging-disabled-empty", job_spec(logging={})),
]


@pytest.mark.parametrize("spec", [c[1] for c in VALID_JOBS], ids=[c[0] for c in VALID_JOBS])
def test_valid_jobs_pass_cel_and_model(spec: dict[str, Any]) -> None:
    assert violations(JOB_SPEC_SCHEMA, spec, path="spec") == []
    TrainingJobSpec.model_validate(spec)


@pytest.mark.parametrize(
    ("field", "new_value"),
    [
        ("compartmentId", "ocid1.compartment.oc1..other"),
        ("projectId", "ocid1.datascienceproject.oc1..other"),
        ("adoptJobId", "ocid1.datasciencejob.oc1..adopted"),
    ],
)
def test_immutable_job_fields(field: str, new_value: str) -> None:
    old = job_spec()
    new = job_spec(**{field: new_value})
    found = violations(JOB_SPEC_SCHEMA, new, old, path="spec")
    assert (f"spec.{field}", f"{field} is immutable") in found


def test_adopt_job_id_cannot_be_removed_or_changed() -> None:
    old = job_spec(adoptJobId="ocid1.datasciencejob.oc1..a")
    assert ("spec.adoptJobId", "adoptJobId is immutable") in violations(
        JOB_SPEC_SCHEMA, job_spec(), old, path="spec"
    )
    changed = job_spec(adoptJobId="ocid1.datasciencejob.oc1..b")
    assert ("spec.adoptJobId", "adoptJobId is immutable") in violations(
        JOB_SPEC_SCHEMA, changed, old, path="spec"
    )
    assert violations(JOB_SPEC_SCHEMA, old, old, path="spec") == []


def test_mutable_job_fields_change_freely() -> None:
    old = job_spec()
    new = job_spec(
        infrastructure={"shape": E4, "ocpus": 4, "memoryInGBs": 64},
        displayName="renamed",
        artifact={"url": "https://example.com/a.zip"},
    )
    assert violations(JOB_SPEC_SCHEMA, new, old, path="spec") == []


def test_run_spec_is_immutable() -> None:
    old = {"jobRef": {"name": "a"}, "env": [{"name": "LR", "value": "0.1"}]}
    assert violations(RUN_SPEC_SCHEMA, old, old, path="spec") == []
    new = {"jobRef": {"name": "a"}, "env": [{"name": "LR", "value": "0.2"}]}
    assert ("spec", "spec is immutable except cancel: create a new TrainingJobRun instead") in violations(
        RUN_SPEC_SCHEMA, new, old, path="spec"
    )
    added = {**old, "args": ["--lr", "0.3"]}  # a field that was unset is set: still a change
    assert violations(RUN_SPEC_SCHEMA, added, old, path="spec") != []


def test_run_may_be_canceled_but_not_uncanceled() -> None:
    old = {"jobRef": {"name": "a"}, "env": [{"name": "LR", "value": "0.1"}]}
    canceled = {**old, "cancel": True}
    assert violations(RUN_SPEC_SCHEMA, canceled, old, path="spec") == []
    assert ("spec.cancel", "cancel cannot be undone: create a new TrainingJobRun instead") in violations(
        RUN_SPEC_SCHEMA, old, canceled, path="spec"
    )


def test_every_run_field_but_cancel_is_immutable() -> None:
    from ocids_operator.api.training_job_run import IMMUTABLE_RUN_FIELDS, TrainingJobRunSpec

    fields = {info.alias or name for name, info in TrainingJobRunSpec.model_fields.items()}
    assert fields - {"cancel"} == set(IMMUTABLE_RUN_FIELDS)


def test_run_infrastructure_override_obeys_shape_rules() -> None:
    spec = {"jobRef": {"name": "a"}, "infrastructure": {"shape": "VM.GPU.A10.1", "ocpus": 4}}
    found = violations(RUN_SPEC_SCHEMA, spec, path="spec")
    assert (
        "spec.infrastructure.shape",
        "ocpus and memoryInGBs can only be set with a flex shape (a shape name ending in .Flex)",
    ) in found
    with pytest.raises(ValidationError, match="only be set with a flex shape"):
        TrainingJobRunSpec.model_validate(spec)
    assert violations(RUN_SPEC_SCHEMA, DESIGN_RUN["spec"], path="spec") == []


def _all_rules(schema: dict[str, Any]) -> list[dict[str, str]]:
    rules = list(schema.get("x-kubernetes-validations", []))
    for sub in schema.get("properties", {}).values():
        rules += _all_rules(sub)
    if "items" in schema:
        rules += _all_rules(schema["items"])
    return rules


@pytest.mark.parametrize("schema", [JOB_SPEC_SCHEMA, RUN_SPEC_SCHEMA], ids=["trainingjob", "trainingjobrun"])
def test_every_rule_compiles_and_has_a_message(schema: dict[str, Any]) -> None:
    rules = _all_rules(schema)
    assert len(rules) >= 5
    for rule in rules:
        program(rule["rule"])  # raises on a syntax error
        assert rule["message"].strip()
        assert set(rule) <= {"rule", "message", "fieldPath", "reason", "messageExpression"}
        if "reason" in rule:
            assert rule["reason"] in {"FieldValueInvalid", "FieldValueForbidden", "FieldValueRequired"}

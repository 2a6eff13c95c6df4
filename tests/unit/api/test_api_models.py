"""The pydantic models read realistic manifests and write them back unchanged."""

from __future__ import annotations

import json
import runpy
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from api_samples import DESIGN_JOB, DESIGN_RUN, example_documents, job_spec
from ocids_operator import shapes
from ocids_operator.api import (
    Condition,
    Infrastructure,
    InfrastructureOverride,
    KubeObject,
    TrainingJob,
    TrainingJobRun,
    TrainingJobSpec,
    TrainingJobStatus,
)
from pydantic import ValidationError


def test_design_job_round_trips() -> None:
    job = TrainingJob.model_validate(DESIGN_JOB)
    assert job.spec.infrastructure.memory_in_gbs == 32
    assert job.spec.env[1].value_from and job.spec.env[1].value_from.secret_key_ref
    assert job.spec.env[1].value_from.secret_key_ref.key == "token"
    assert job.spec.storage_mounts[1].mount_target_id == "ocid1.mounttarget.oc1..a"
    assert job.status and job.status.revision == 2 and job.status.conditions[0].status == "True"
    again = TrainingJobSpec.model_validate(job.spec.to_k8s())
    assert again == job.spec
    # What the operator writes back is exactly what the user wrote, plus defaults and float ocpus.
    written = job.spec.to_k8s()
    original = dict(DESIGN_JOB["spec"])
    for key in original:
        assert written[key] == original[key] or key in ("env", "infrastructure"), key
    assert written["infrastructure"] == {**original["infrastructure"], "fastLaunch": False}
    assert written["jobType"] == "DEFAULT"
    assert written["env"][1]["valueFrom"]["secretKeyRef"] == {
        "name": "wandb",
        "key": "token",
        "optional": False,
    }


def test_design_run_round_trips() -> None:
    run = TrainingJobRun.model_validate(DESIGN_RUN)
    assert run.spec.job_ref.name == "attrition"
    assert run.spec.infrastructure == InfrastructureOverride(shape="VM.GPU.A10.1")
    assert run.status and run.status.exit_code == 0
    assert run.status.time_accepted == datetime(2026, 1, 2, 3, 4, 5, 123000, tzinfo=UTC)
    status = run.status.to_k8s()
    assert status["timeAccepted"] == "2026-01-02T03:04:05.123000Z"
    assert status["logs"]["url"].startswith("https://cloud.oracle.com/logging/")


def test_status_tolerates_unknown_fields_but_spec_does_not() -> None:
    TrainingJobStatus.model_validate({"phase": "Active", "kopf": {"progress": {}}})
    with pytest.raises(ValidationError, match="extra"):
        TrainingJobSpec.model_validate(job_spec(replicas=2))


def test_defaults_match_the_crd() -> None:
    spec = TrainingJobSpec.model_validate(job_spec())
    assert spec.infrastructure.block_storage_size_in_gbs == 50
    assert spec.deletion_policy == "Delete"
    assert spec.env == [] and spec.args == [] and spec.freeform_tags == {}


def test_snake_case_construction_and_camel_case_output() -> None:
    infra = Infrastructure(
        shape="VM.Standard.E4.Flex", ocpus=2, memory_in_gbs=32, subnet_id="ocid1.subnet.oc1..a"
    )
    assert infra.to_k8s() == {
        "shape": "VM.Standard.E4.Flex",
        "ocpus": 2.0,
        "memoryInGBs": 32.0,
        "blockStorageSizeInGBs": 50,
        "subnetId": "ocid1.subnet.oc1..a",
        "fastLaunch": False,
    }
    cond = Condition(
        type="Ready", status="False", reason="Creating", last_transition_time=datetime(2026, 1, 1, tzinfo=UTC)
    )
    assert cond.to_k8s() == {
        "type": "Ready",
        "status": "False",
        "reason": "Creating",
        "lastTransitionTime": "2026-01-01T00:00:00Z",
    }


def test_run_infrastructure_override_merges_with_the_job() -> None:
    job = Infrastructure(
        shape="VM.Standard.E4.Flex",
        ocpus=2,
        memory_in_gbs=32,
        block_storage_size_in_gbs=100,
        subnet_id="ocid1.subnet.oc1..a",
    )
    assert job.with_override(None) is job
    gpu = job.with_override(InfrastructureOverride(shape="VM.GPU.A10.1"))
    assert (gpu.shape, gpu.ocpus, gpu.memory_in_gbs) == ("VM.GPU.A10.1", None, None)
    assert (gpu.block_storage_size_in_gbs, gpu.subnet_id) == (100, "ocid1.subnet.oc1..a")
    bigger = job.with_override(
        InfrastructureOverride(
            shape="VM.Standard3.Flex", ocpus=8, memory_in_gbs=128, block_storage_size_in_gbs=500
        )
    )
    assert (bigger.ocpus, bigger.memory_in_gbs, bigger.block_storage_size_in_gbs) == (8, 128, 500)


def test_shape_catalog() -> None:
    assert shapes.is_flex("VM.Standard.E4.Flex") and not shapes.is_flex("VM.GPU.A10.1")
    a10 = shapes.get("VM.GPU.A10.1")
    assert a10 is not None and a10.gpu
    assert shapes.shape_problems("VM.Standard.E4.Flex", 2, 32) == []
    assert shapes.shape_problems("VM.Standard.E4.Flex", 65, 100) == [
        "VM.Standard.E4.Flex takes 1 to 64 ocpus"
    ]
    # A name the catalog does not know is OCI's to judge; offline only the .Flex naming applies.
    assert shapes.shape_problems("VM.GPU.L40S.2", None, None) == []
    assert shapes.shape_problems("VM.Standard.E6.Flex", 126, 1454) == []
    assert shapes.shape_problems("VM.Standard.E6.Flex", None, None) == [shapes.flex_required_message()]
    assert shapes.shape_problems("VM.GPU.L40S.2", 2, 16) == [shapes.flex_only_message()]
    assert shapes.is_flex("VM.Standard.E6.Flex")
    assert shapes.describe("VM.GPU.L40S.2", None, None) == "VM.GPU.L40S.2"
    assert shapes.describe("VM.Standard.E4.Flex", 2.0, 32.0) == "VM.Standard.E4.Flex (2 OCPU, 32 GB)"
    assert shapes.describe("VM.GPU.A10.1", None, None) == "VM.GPU.A10.1"
    assert len(set(shapes.SHAPE_NAMES)) == len(shapes.SHAPE_NAMES)


EXAMPLES = example_documents()


@pytest.mark.parametrize(("doc"), [d for _, d in EXAMPLES], ids=[f"{n}:{d['kind']}" for n, d in EXAMPLES])
def test_every_example_loads_through_the_models(doc: dict[str, Any]) -> None:
    models: dict[str, type[KubeObject]] = {"TrainingJob": TrainingJob, "TrainingJobRun": TrainingJobRun}
    model = models.get(doc["kind"])
    if model is None:
        assert doc["kind"] == "ConfigMap"
        return
    obj = model.model_validate(doc)
    assert obj.to_k8s()["spec"]


def test_examples_cover_the_documented_cases() -> None:
    kinds = {(n, d["kind"]) for n, d in EXAMPLES}
    assert ("trainingjobrun.yaml", "TrainingJobRun") in kinds
    specs = [TrainingJobSpec.model_validate(d["spec"]) for _, d in EXAMPLES if d["kind"] == "TrainingJob"]
    assert any(s.artifact.inline for s in specs)
    assert any(s.artifact.config_map_ref for s in specs)
    assert any(s.conda and shapes.is_flex(s.infrastructure.shape) for s in specs)


def test_inline_example_trains_and_saves_a_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = next(d for n, d in EXAMPLES if n == "trainingjob-inline.yaml")
    inline = doc["spec"]["artifact"]["inline"]
    script = tmp_path / inline["fileName"]
    script.write_text(inline["content"])
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", [str(script), "--epochs", "5"])
    for var in doc["spec"]["env"]:
        monkeypatch.setenv(var["name"], var["value"])
    runpy.run_path(str(script), run_name="__main__")
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines[:5]] == [f"epoch={i}" for i in range(1, 6)]
    model = json.loads((tmp_path / "model.json").read_text())
    assert model["test_accuracy"] > 0.8
    assert set(model) == {"weights", "bias", "learning_rate", "test_accuracy"}

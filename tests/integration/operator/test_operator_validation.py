"""Bad manifests are refused by the API server itself, naming the field (H3's tests hold the full table)."""

from __future__ import annotations

from typing import Any

import operator_scripts as scripts
import pytest
from operator_harness import RUNS, Kube
from operator_manifests import training_job, training_job_run

pytestmark = pytest.mark.integration
COMPARTMENT = "ocid1.compartment.oc1..aaaaaaaaexample"
PROJECT = "ocid1.datascienceproject.oc1.iad.aaaaaaaaexample"


def _job(namespace: str, **changes: Any) -> dict[str, Any]:
    manifest = training_job(
        "checked", namespace, compartment_id=COMPARTMENT, project_id=PROJECT, script=scripts.TRAIN
    )
    for key, value in changes.items():
        if value is None:
            manifest["spec"].pop(key, None)
        else:
            manifest["spec"][key] = value
    return manifest


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"compartmentId": None}, "compartmentId"),
        (
            {"infrastructure": {"shape": "VM.Standard.E4.Flex", "ocpus": 1, "blockStorageSizeInGBs": 10}},
            "blockStorageSizeInGBs",
        ),
        ({"infrastructure": {"shape": "VM.Imaginary.Flex"}}, "shape"),
        (
            {
                "artifact": {
                    "inline": {"fileName": "a.py", "content": "x"},
                    "url": "https://example.com/a.zip",
                }
            },
            "artifact",
        ),
    ],
    ids=["missing-compartment", "small-disk", "unknown-shape", "two-artifact-sources"],
)
def test_invalid_training_job_is_rejected_naming_the_field(
    kube: Kube, namespace: str, changes: dict[str, Any], field: str
) -> None:
    proc = kube.apply(_job(str(namespace), **changes), check=False)
    assert proc.returncode != 0, "the API server accepted an invalid TrainingJob"
    assert field in proc.stderr, proc.stderr
    assert kube.get("trainingjobs", "checked", str(namespace)) is None


def test_run_spec_is_immutable(kube: Kube, namespace: str) -> None:
    ns = str(namespace)
    kube.apply(training_job_run("frozen", ns, "nothing-yet", env={"A": "1"}))
    proc = kube.apply(training_job_run("frozen", ns, "nothing-yet", env={"A": "2"}), check=False)
    assert proc.returncode != 0, "a TrainingJobRun's spec changed after creation"
    assert "immutable" in proc.stderr.lower() or "spec" in proc.stderr, proc.stderr
    kube.delete(RUNS, "frozen", ns, wait=False)

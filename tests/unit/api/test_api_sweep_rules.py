"""TrainingJobSweep's rules, checked twice: by the CRD's CEL (evaluated offline) and by the pydantic
model, with the same words; and examples/sweep/ loads through the models and its script ranks the
combinations as its README says."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from api_cel_eval import violations
from ocids_codegen.crdgen import crd
from ocids_operator.api import TRAINING_JOB_SWEEP, TrainingJob, TrainingJobSweep, TrainingJobSweepSpec
from ocids_operator.api.sweep import IMMUTABLE_SWEEP_FIELDS
from ocids_operator.core.sweep_space import trial_parameters
from pydantic import ValidationError

SCHEMA = crd(TRAINING_JOB_SWEEP)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "sweep"
PLACEHOLDER = re.compile(r"\$\{([A-Z][A-Z0-9_]*)\}")
IDS = {
    "COMPARTMENT_ID": "ocid1.compartment.oc1..exampleuniqueid",
    "PROJECT_ID": "ocid1.datascienceproject.oc1.iad.exampleuniqueid",
    "LOG_GROUP_ID": "ocid1.loggroup.oc1.iad.exampleuniqueid",
}
METRICS = [{"name": "accuracy", "regex": "accuracy=([0-9.]+)"}]


def spec(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "jobRef": {"name": "train"},
        "parameters": [{"name": "lr", "values": ["0.1", "0.01"], "env": "LR"}],
    }
    return {**base, **changes}


def param(**fields: Any) -> dict[str, Any]:
    return {"parameters": [{"name": "p", **fields}]}


# (id, spec, path the API server names, message)
INVALID: list[tuple[str, dict[str, Any], str, str]] = [
    (
        "min-above-max",
        spec(**param(range={"min": 2, "max": 1, "step": 1}, env="P")),
        "spec.parameters[0].range",
        "range.min must be less than range.max",
    ),
    (
        "log-from-zero",
        spec(**param(range={"min": 0, "max": 1, "count": 3, "scale": "log"}, env="P")),
        "spec.parameters[0].range.min",
        "range.min must be above 0 with scale log",
    ),
    (
        "log-with-step",
        spec(**param(range={"min": 1, "max": 8, "step": 1, "scale": "log"}, env="P")),
        "spec.parameters[0].range.scale",
        "range.scale log needs count, not step",
    ),
    (
        "step-and-count",
        spec(**param(range={"min": 0, "max": 1, "step": 0.5, "count": 3}, env="P")),
        "spec.parameters[0].range",
        "exactly one of step or count must be set",
    ),
    (
        "tiny-step",
        spec(**param(range={"min": 0, "max": 1, "step": 0.0001}, env="P")),
        "spec.parameters[0].range.step",
        "range.step is too small: at most 1000 values",
    ),
    (
        "values-and-range",
        spec(**param(values=["1"], range={"min": 0, "max": 1, "count": 2}, env="P")),
        "spec.parameters[0]",
        "exactly one of values or range must be set",
    ),
    (
        "no-mapping",
        spec(**param(values=["1"])),
        "spec.parameters[0]",
        "exactly one of env or arg must be set",
    ),
    (
        "arg-without-value",
        spec(**param(values=["1"], arg="--p")),
        "spec.parameters[0].arg",
        "arg must contain {value}, where the trial's value goes",
    ),
    (
        "same-env-twice",
        spec(
            parameters=[
                {"name": "a", "values": ["1"], "env": "X"},
                {"name": "b", "values": ["1"], "env": "X"},
            ]
        ),
        "spec.parameters",
        "two parameters set the same env variable",
    ),
    ("random-unbounded", spec(strategy="random"), "spec.maxTrials", "strategy random needs maxTrials"),
    ("seed-on-grid", spec(seed=4), "spec.seed", "seed applies to strategy random only"),
    (
        "objective-not-a-metric",
        spec(metrics=METRICS, objective={"metric": "f1"}),
        "spec.objective.metric",
        "objective.metric must be one of spec.metrics",
    ),
    (
        "early-stopping-alone",
        spec(earlyStopping={}),
        "spec.earlyStopping",
        "earlyStopping needs an objective",
    ),
]


@pytest.mark.parametrize(("body", "path", "message"), [c[1:] for c in INVALID], ids=[c[0] for c in INVALID])
def test_the_api_server_and_the_model_refuse_alike(body: dict[str, Any], path: str, message: str) -> None:
    assert (path, message) in violations(SCHEMA, body, path="spec")
    with pytest.raises(ValidationError, match=re.escape(message)):
        TrainingJobSweepSpec.model_validate(body)


def test_a_good_spec_passes_both() -> None:
    good = spec(
        strategy="random",
        seed=3,
        maxTrials=5,
        metrics=METRICS,
        objective={"metric": "accuracy", "goal": "maximize", "target": 0.9},
        earlyStopping={"minTrials": 2},
    )
    assert violations(SCHEMA, good, path="spec") == []
    TrainingJobSweepSpec.model_validate(good)


def test_the_search_is_immutable_but_parallelism_and_max_failures_are_not() -> None:
    fields = {info.alias or name for name, info in TrainingJobSweepSpec.model_fields.items()}
    assert fields - {"parallelism", "maxFailures"} == set(IMMUTABLE_SWEEP_FIELDS)
    old = spec(strategy="random", seed=1, maxTrials=3)
    message = "spec is immutable except parallelism and maxFailures: create a new TrainingJobSweep"
    assert ("spec", message) in violations(SCHEMA, {**old, "seed": 2}, old, path="spec")
    assert violations(SCHEMA, {**old, "parallelism": 4, "maxFailures": 9}, old, path="spec") == []


def load(name: str) -> dict[str, Any]:
    return dict(yaml.safe_load(PLACEHOLDER.sub(lambda m: IDS[m.group(1)], (EXAMPLE / name).read_text())))


def test_the_example_is_a_2x3_grid_two_at_a_time_whose_script_peaks_at_trial_4() -> None:
    job = TrainingJob.model_validate(load("trainingjob.yaml"))
    sweep = TrainingJobSweep.model_validate(load("sweep.yaml"))
    assert sweep.spec.job_ref.name == job.metadata["name"] and sweep.spec.parallelism == 2
    combos = trial_parameters(sweep.spec, 0)
    assert len(combos) == 6
    script = job.spec.artifact.inline.content  # type: ignore[union-attr]
    accuracy = []
    for combo in combos:
        env = {**os.environ, "LEARNING_RATE": combo["lr"], "STEP_SECONDS": "0"}
        done = subprocess.run(
            [sys.executable, "-c", script, *job.spec.args, f"--batch={combo['batch']}"],
            env=env, capture_output=True, text=True, timeout=30, check=True,
        )  # fmt: skip
        accuracy.append(float(re.findall(r"^test accuracy=([0-9.]+)$", done.stdout, re.MULTILINE)[0]))
    assert max(range(6), key=lambda i: accuracy[i]) == 4 and accuracy[4] == pytest.approx(0.95)
    assert combos[4] == {"lr": "0.01", "batch": "32"}

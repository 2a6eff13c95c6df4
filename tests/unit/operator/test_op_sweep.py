"""TrainingJobSweep: the search space, the median stopping rule, the plan (sweep_scenarios/), the
trials' objects, the spec's validation, and the workflow against an in-memory Kubernetes."""

from __future__ import annotations

import asyncio
import json
import pathlib
from typing import Any

import pytest
import yaml
from ocids_operator.api import TrainingJobSweepSpec
from ocids_operator.api.sweep import TrialOutcome
from ocids_operator.core import sweep_space
from ocids_operator.core.errors import OutcomeKind, ReconcileError
from ocids_operator.core.metric_lines import LogLine, merge
from ocids_operator.core.sweep_plan import plan_sweep, sweep_status
from ocids_operator.core.sweep_stopping import first_values, median_stops, metric_curve, start_mean
from ocids_operator.core.sweep_trials import (
    EARLY_STOPPED_ANNOTATION,
    label_value,
    trial_body,
    trial_name,
    trial_of,
    trial_summary,
)
from ocids_operator.runtime import Runtime
from ocids_operator.settings import OperatorSettings
from ocids_operator.workflows import sweep as workflow
from pydantic import ValidationError

NOW = "2026-01-01T00:00:00Z"
TABLE = yaml.safe_load((pathlib.Path(__file__).parent / "sweep_scenarios" / "sweep_plan.yaml").read_text())

GRID = {
    "jobRef": {"name": "train"},
    "parameters": [
        {"name": "lr", "values": ["0.1", "0.01"], "env": "LR"},
        {"name": "batch", "values": ["16", "32", "64"], "arg": "--batch={value}"},
    ],
    "parallelism": 2,
    "metrics": [
        {"name": "accuracy", "regex": "accuracy=([0-9.]+)"},
        {"name": "loss", "regex": "loss=([0-9.]+)"},
    ],
    "objective": {"metric": "accuracy"},
}


def spec_of(**changes: Any) -> TrainingJobSweepSpec:
    return TrainingJobSweepSpec.model_validate({**GRID, **changes})


# The search space ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("range_", "values"),
    [
        ({"min": 1, "max": 5, "step": 1}, ["1", "2", "3", "4", "5"]),
        ({"min": 0.1, "max": 0.5, "step": 0.1}, ["0.1", "0.2", "0.3", "0.4", "0.5"]),  # no float noise
        ({"min": 0, "max": 1, "step": 0.3}, ["0", "0.3", "0.6", "0.9"]),  # max not reached: not passed
        ({"min": 0, "max": 1, "count": 3}, ["0", "0.5", "1"]),
        ({"min": 0.001, "max": 0.1, "count": 3, "scale": "log"}, ["0.001", "0.01", "0.1"]),
        ({"min": 1, "max": 1000, "count": 4, "scale": "log"}, ["1", "10", "100", "1000"]),
    ],
)
def test_range_values(range_: dict[str, Any], values: list[str]) -> None:
    parameter = {"name": "p", "range": range_, "env": "P"}
    assert sweep_space.trial_parameters(spec_of(parameters=[parameter]), 0) == [{"p": v} for v in values]


def test_the_grid_runs_every_combination_in_order_first_parameter_slowest() -> None:
    combos = [(t["lr"], t["batch"]) for t in sweep_space.trial_parameters(spec_of(), 0)]
    assert combos == [
        ("0.1", "16"),
        ("0.1", "32"),
        ("0.1", "64"),
        ("0.01", "16"),
        ("0.01", "32"),
        ("0.01", "64"),
    ]
    assert len(sweep_space.trial_parameters(spec_of(maxTrials=4), 0)) == 4


def test_a_grid_too_large_without_max_trials_is_refused_naming_max_trials() -> None:
    many = [{"name": f"p{i}", "values": [str(v) for v in range(10)], "env": f"P{i}"} for i in range(4)]
    with pytest.raises(sweep_space.SearchSpaceTooLarge, match=r"10000 combinations.*spec.maxTrials"):
        sweep_space.trial_parameters(spec_of(parameters=many), 0)
    assert len(sweep_space.trial_parameters(spec_of(parameters=many, maxTrials=50), 0)) == 50


def test_random_is_reproducible_by_seed_distinct_and_differs_with_another_seed() -> None:
    huge = [{"name": f"p{i}", "values": [str(v) for v in range(100)], "env": f"P{i}"} for i in range(16)]
    spec = spec_of(parameters=huge, strategy="random", maxTrials=20, seed=7)
    first = sweep_space.trial_parameters(spec, 7)
    assert first == sweep_space.trial_parameters(spec, 7)  # 100**16 combinations: never listed
    assert first != sweep_space.trial_parameters(spec, 8)
    assert len({json.dumps(t, sort_keys=True) for t in first}) == 20
    small = spec_of(strategy="random", maxTrials=10, seed=1)
    assert len(sweep_space.trial_parameters(small, 1)) == 6  # capped at the space, each once
    assert len({json.dumps(t) for t in sweep_space.trial_parameters(small, 1)}) == 6


# The median stopping rule (Katib's medianstop) -------------------------------------------------------

# The succeeded trials' means of their first 2 values: 0.6, 0.5, 0.55 -> median 0.55.
DONE = [[(1, 0.5), (2, 0.7), (3, 0.9)], [(1, 0.4), (2, 0.6), (3, 0.8)], [(1, 0.5), (2, 0.6), (3, 0.85)]]


@pytest.mark.parametrize(
    ("curve", "goal", "min_trials", "start_step", "stopped"),
    [
        ([(1, 0.1), (2, 0.1)], "maximize", 3, 2, True),  # best 0.1 < median 0.55
        ([(1, 0.6), (2, 0.7)], "maximize", 3, 2, False),
        ([(1, 0.55), (2, 0.55)], "maximize", 3, 2, False),  # equal to the median: not worse
        ([(1, 0.1)], "maximize", 3, 2, False),  # fewer observations than startStep
        ([(1, 0.1), (2, 0.1)], "maximize", 4, 2, False),  # only 3 trials succeeded
        ([(1, 0.1), (2, 0.1)], "minimize", 3, 2, False),  # lower is better
        ([(1, 0.9), (2, 0.9)], "minimize", 3, 2, True),
        # Katib judges the BEST of the first startStep values, not their running average: a slow
        # start that reaches 0.6 by step 2 goes on (its average 0.35 is below the median).
        ([(1, 0.1), (2, 0.6)], "maximize", 3, 2, False),
        # Only the first startStep values count: a late collapse is not judged by this rule.
        ([(1, 0.6), (2, 0.6), (3, 0.0), (4, 0.0)], "maximize", 3, 2, False),
    ],
)
def test_median_rule(
    curve: list[tuple[int, float]], goal: str, min_trials: int, start_step: int, stopped: bool
) -> None:
    means = [m for c in DONE if (m := start_mean([v for _, v in c], start_step)) is not None]
    running = {"t": (curve[-1][0], [v for _, v in curve])}
    stops = median_stops(running, means, goal=goal, min_trials=min_trials, start_step=start_step)
    assert [s.trial for s in stops] == (["t"] if stopped else [])


def test_the_reference_is_the_median_of_the_first_values_not_of_whole_curves() -> None:
    # Succeeded trials that start low and end high: their whole-curve averages (about 0.5) would
    # stop a trial at 0.3; the means of their first 2 values (0.15) do not.
    done = [[0.1, 0.2] + [0.9] * 37 for _ in range(3)]
    means = [m for c in done if (m := start_mean(c, 2)) is not None]
    assert means == [pytest.approx(0.15)] * 3
    running = {"t": (2, [0.3, 0.3])}
    assert median_stops(running, means, goal="maximize", min_trials=3, start_step=2) == []
    # The median, not the mean (Katib's code averages them): 0.1, 0.2, 0.9 -> median 0.2, mean 0.4.
    stops = median_stops(running, [0.1, 0.2, 0.9], goal="maximize", min_trials=3, start_step=2)
    assert stops == []


def test_a_stop_names_the_values_compared() -> None:
    means = [m for c in DONE if (m := start_mean([v for _, v in c], 2)) is not None]
    (stop,) = median_stops({"t": (2, [0.1, 0.1])}, means, goal="maximize", min_trials=3, start_step=2)
    assert stop.message("accuracy") == (
        "trial t stopped: the best of its first 2 accuracy values, 0.1, is worse than the median 0.55 "
        "of the means of the first 2 values of 3 succeeded trials"
    )


def test_a_curve_joins_the_history_and_the_latest_value() -> None:
    metric = {
        "name": "a",
        "value": 0.9,
        "step": 5,
        "history": [{"step": 1, "value": 0.1}, {"step": 3, "value": 0.5}],
    }
    curve = metric_curve(metric)
    assert curve == [(1, 0.1), (3, 0.5), (5, 0.9)]
    assert metric_curve(None) == []


def test_the_first_values_are_exact_however_long_a_trial_logs() -> None:
    # 1000 observations: the history is thinned to 64 points (steps 1, 17, 33, ...), but the first
    # values the median rule compares are kept whole.
    lines = [LogLine(str(i), 1000 * i, "src", f"acc={0.001 * i:.3f}") for i in range(1, 1001)]
    (metric,) = merge([], [{"name": "acc", "regex": "acc=([0-9.]+)"}], lines)
    assert len(metric["history"]) <= 64 and metric["history"][1]["step"] > 2
    first = first_values(metric)
    assert first[:4] == [0.001, 0.002, 0.003, 0.004] and len(first) == 32
    assert start_mean(first, 4) == pytest.approx(0.0025)
    # Read in small batches, as the poller does: the same first values.
    merged: list[dict[str, Any]] = []
    for batch in range(0, 1000, 7):
        merged = merge(merged, [{"name": "acc", "regex": "acc=([0-9.]+)"}], lines[batch : batch + 7])
    assert first_values(merged[0]) == first


# The plan (sweep_scenarios/sweep_plan.yaml) -------------------------------------------------------


def _trial(row: dict[str, Any]) -> dict[str, Any]:
    params = sweep_space.trial_parameters(spec_of(), 0)[row["index"] % 6]
    annotations = {"ocids.io/parameters": json.dumps(params)}
    if row.get("early"):
        annotations[EARLY_STOPPED_ANNOTATION] = "stopped"
    status: dict[str, Any] = {}
    if "phase" in row:
        status["phase"] = row["phase"]
    if row.get("retry"):
        status["nextAttemptAt"] = "2026-01-01T00:00:00Z"
    if "final" in row:
        status["metricsFinal"] = row["final"]
    metric: dict[str, Any] = {"name": "accuracy"}
    curve = row.get("curve") or []
    if curve:
        metric.update(
            step=curve[-1][0], value=curve[-1][1], history=[{"step": s, "value": v} for s, v in curve]
        )
    if "value" in row:
        metric["value"] = row["value"]
        metric.setdefault("step", 1)
    if len(metric) > 1:
        status["metrics"] = [metric, {**metric, "name": "loss"}]
    return {
        "metadata": {
            "name": trial_name("test", row["index"]),
            "uid": f"uid-{row['index']}",
            "labels": {"ocids.io/sweep": "test", "ocids.io/trial": str(row["index"])},
            "annotations": annotations,
        },
        "spec": {"jobRef": {"name": "train"}, "cancel": bool(row.get("cancel"))},
        "status": status,
    }


def _plan(
    spec: TrainingJobSweepSpec,
    trials: list[Any],
    status: dict[str, Any],
    params: list[dict[str, str]] | None = None,
    gone: list[int] | None = None,
) -> Any:
    params = params if params is not None else sweep_space.trial_parameters(spec, 0)
    gone_outcomes = [TrialOutcome(index=i, phase="Gone") for i in gone or []]
    return plan_sweep(
        spec, params, trials, status, name_of=lambda i: trial_name("test", i), gone=gone_outcomes
    )


@pytest.mark.parametrize("case", TABLE["scenarios"], ids=[c["name"] for c in TABLE["scenarios"]])
def test_sweep_plan(case: dict[str, Any]) -> None:
    spec = spec_of(**case.get("spec", {}))
    metric = spec.objective.metric if spec.objective else None
    trials = [t for row in case["trials"] if (t := trial_of(_trial(row), metric)) is not None]
    params = sweep_space.trial_parameters(spec, 0)
    plan = _plan(spec, trials, case.get("status", {}), params, case.get("gone", []))
    status = sweep_status(plan, total=len(params), seed=None, created=0, previous={}, generation=1, now=NOW)
    expect = case["expect"]
    checks = {
        "create": plan.create,
        "phase": plan.phase.value,
        "reason": plan.reason.value,
        "cancel": [c.trial.name for c in plan.cancel],
        "stops": [s.trial for s in plan.stops],
        "next": plan.next_index,
        "best": (status.get("best") or {}).get("run"),
        "leaderboard": [e["run"] for e in status.get("leaderboard", [])],
        "message": plan.message,
        **{
            key: status.get(key)
            for key in ("active", "succeeded", "failed", "canceled", "earlyStopped", "outcomes")
        },
    }
    for key, want in expect.items():
        if key == "cancelAnnotation":
            assert all(want in c.annotations for c in plan.cancel), plan.cancel
            continue
        assert checks[key] == want, (key, checks[key])


def test_status_is_ready_only_once_a_finished_sweep_has_no_trial_running() -> None:
    spec = spec_of(objective={"metric": "accuracy", "target": 0.9})
    rows = [
        {"index": 0, "phase": "Succeeded", "value": 0.95},
        {"index": 1, "phase": "InProgress", "cancel": True},
    ]
    trials = [t for row in rows if (t := trial_of(_trial(row), "accuracy")) is not None]
    status = sweep_status(
        _plan(spec, trials, {}), total=6, seed=None, created=0, previous={}, generation=1, now=NOW
    )
    ready = {c["type"]: c["status"] for c in status["conditions"]}
    assert status["phase"] == "Succeeded" and ready == {
        "Ready": "False",
        "Reconciling": "True",
        "Stalled": "False",
    }
    done = [trials[0]]
    status = sweep_status(
        _plan(spec, done, {}), total=6, seed=None, created=0, previous={}, generation=1, now=NOW
    )
    assert {c["type"]: c["status"] for c in status["conditions"]}["Ready"] == "True"


# The trials' objects ------------------------------------------------------------------------------

SWEEP = {"metadata": {"name": "lr-sweep", "namespace": "ml", "uid": "uid-sweep"}}


def test_a_trial_gets_its_values_as_env_and_appended_args_labels_and_a_non_controller_owner() -> None:
    spec = spec_of(trialTemplate={"maximumRuntimeInMinutes": 30, "deletionPolicy": "Retain"})
    body = trial_body(SWEEP, spec, 4, {"lr": "0.01", "batch": "32"}, {"args": ["--epochs=3"]})
    meta, run = body["metadata"], body["spec"]
    assert meta["name"] == "lr-sweep-004"
    assert meta["labels"] == {"ocids.io/sweep": "lr-sweep", "ocids.io/trial": "4"}
    assert json.loads(meta["annotations"]["ocids.io/parameters"]) == {"lr": "0.01", "batch": "32"}
    (owner,) = meta["ownerReferences"]
    assert (
        owner["uid"] == "uid-sweep" and owner["controller"] is False and owner["blockOwnerDeletion"] is False
    )
    assert run["env"] == [{"name": "LR", "value": "0.01"}]
    assert run["args"] == ["--epochs=3", "--batch=32"]
    assert [m["name"] for m in run["metrics"]] == ["accuracy", "loss"]
    assert run["maximumRuntimeInMinutes"] == 30 and run["deletionPolicy"] == "Retain"
    container = trial_body(SWEEP, spec, 0, {"lr": "1", "batch": "2"}, {"container": {"args": ["train"]}})
    assert (
        container["spec"]["container"] == {"args": ["train", "--batch=2"]} and "args" not in container["spec"]
    )


def test_long_names_stay_valid_labels_and_object_names() -> None:
    long = "s" * 253
    assert len(label_value(long)) == 63 and label_value(long) != label_value("s" * 252)
    assert len(trial_name(long, 7)) <= 253 and trial_name(long, 7).endswith("-007")
    assert trial_name("x", 1234) == "x-1234"


# Validation (the CEL rules' Python twins name the field) --------------------------------------------


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"parameters": [{"name": "p", "range": {"min": 2, "max": 1, "step": 1}, "env": "P"}]},
            "range.min must be less",
        ),
        (
            {
                "parameters": [
                    {"name": "p", "range": {"min": 0, "max": 1, "count": 3, "scale": "log"}, "env": "P"}
                ]
            },
            "above 0",
        ),
        (
            {"parameters": [{"name": "p", "range": {"min": 0, "max": 1}, "env": "P"}]},
            "exactly one of step or count",
        ),
        (
            {"parameters": [{"name": "p", "values": ["1"], "env": "P", "arg": "--p={value}"}]},
            "exactly one of env or arg",
        ),
        ({"parameters": [{"name": "p", "values": ["1"], "arg": "--p"}]}, "arg must contain {value}"),
        (
            {
                "parameters": [
                    {"name": "a", "values": ["1"], "env": "X"},
                    {"name": "b", "values": ["1"], "env": "X"},
                ]
            },
            "same env",
        ),
        ({"strategy": "random"}, "strategy random needs maxTrials"),
        ({"seed": 3}, "seed applies to strategy random only"),
        ({"objective": {"metric": "f1"}}, "objective.metric must be one of spec.metrics"),
        ({"objective": None, "earlyStopping": {}}, "earlyStopping needs an objective"),
    ],
)
def test_bad_specs_are_refused_naming_the_field(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message.replace("{", r"\{").replace("}", r"\}")):
        spec_of(**change)


# The workflow against an in-memory Kubernetes -----------------------------------------------------


class Kube:
    def __init__(self, job: dict[str, Any] | None) -> None:
        self.job = job
        self.runs: dict[str, dict[str, Any]] = {}
        self.events: list[tuple[str, str]] = []
        self.canceled: list[str] = []
        self.status: dict[str, Any] = {}  # what the API server holds of the sweep's status
        self.refuse_create = False
        self.config_maps: dict[str, dict[str, Any]] = {}
        self.cancel_answers = True

    async def get_training_job(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.job

    async def list_labeled_training_job_runs(self, namespace: str, selector: str) -> list[dict[str, Any]]:
        key, value = selector.split("=")
        return [r for r in self.runs.values() if r["metadata"]["labels"].get(key) == value]

    async def get_config_map(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.config_maps.get(name)

    async def reserve_sweep_trials(
        self, namespace: str, name: str, uid: str, trials: int, creating: list[int]
    ) -> bool:
        self.status.update(trials=trials, creating=creating)
        return True

    async def create_training_job_run(self, namespace: str, body: dict[str, Any]) -> dict[str, Any] | None:
        if self.refuse_create:
            raise RuntimeError("exceeded quota: trainingjobruns")
        name = body["metadata"]["name"]
        if name in self.runs:
            return None
        body = json.loads(json.dumps(body))
        body["metadata"]["uid"] = f"uid-{name}"
        self.runs[name] = body
        return body

    async def get_training_job_run(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.runs.get(name)

    async def cancel_training_job_run(
        self, namespace: str, name: str, uid: str, annotations: dict[str, str] | None = None
    ) -> bool:
        if not self.cancel_answers:
            return False
        self.canceled.append(name)
        self.runs[name]["spec"]["cancel"] = True
        self.runs[name]["metadata"]["annotations"].update(annotations or {})
        return True

    async def delete_training_job_run(self, namespace: str, name: str, uid: str) -> bool:
        self.runs[name]["metadata"]["deletionTimestamp"] = "now"
        return True


def _runtime(kube: Kube) -> Runtime:
    return Runtime(settings=OperatorSettings(), oci=None, kube=kube, poller=None)  # type: ignore[arg-type]


def _sweep(spec: dict[str, Any], status: dict[str, Any] | None = None) -> dict[str, Any]:
    meta = {"name": "lr-sweep", "namespace": "ml", "uid": "uid-sweep", "generation": 1}
    return {"metadata": meta, "spec": spec, "status": status or {}}


JOB = {"metadata": {"name": "train", "uid": "uid-job"}, "spec": {"args": ["--epochs=2"]}}


def test_a_sweep_creates_parallelism_trials_and_then_one_per_finished_trial() -> None:
    kube = Kube(JOB)
    outcome = asyncio.run(workflow.reconcile(_runtime(kube), _sweep(GRID)))
    assert sorted(kube.runs) == ["lr-sweep-000", "lr-sweep-001"]
    assert (
        outcome.status["trials"] == 2
        and outcome.status["active"] == 2
        and outcome.status["phase"] == "Running"
    )
    assert [e[1] for e in outcome.events] == ["TrialCreated", "TrialCreated"]
    again = asyncio.run(workflow.reconcile(_runtime(kube), _sweep(GRID, dict(outcome.status))))
    assert sorted(kube.runs) == ["lr-sweep-000", "lr-sweep-001"] and not again.events  # still 2 unfinished
    kube.runs["lr-sweep-000"]["status"] = {
        "phase": "Succeeded",
        "metrics": [{"name": "accuracy", "value": 0.7}],
    }
    third = asyncio.run(workflow.reconcile(_runtime(kube), _sweep(GRID, dict(again.status))))
    assert sorted(kube.runs) == ["lr-sweep-000", "lr-sweep-001", "lr-sweep-002"]
    assert third.status["best"]["run"] == "lr-sweep-000" and third.status["best"]["metric"] == 0.7


def test_a_name_taken_by_another_object_stalls_the_sweep_naming_it() -> None:
    kube = Kube(JOB)
    kube.runs["lr-sweep-000"] = {
        "metadata": {"name": "lr-sweep-000", "uid": "other", "labels": {}},
        "spec": {},
    }
    outcome = asyncio.run(workflow.reconcile(_runtime(kube), _sweep(GRID)))
    assert "lr-sweep-000 exists and is not a trial of this sweep" in outcome.status["message"]
    assert {c["type"]: c["status"] for c in outcome.status["conditions"]}["Stalled"] == "True"


def _conditions(status: Any) -> dict[str, tuple[str, str]]:
    return {c["type"]: (c["status"], c["reason"]) for c in status["conditions"]}


def test_a_missing_job_stalls_the_sweep_naming_job_ref_before_and_after_its_first_trials() -> None:
    outcome = asyncio.run(workflow.reconcile(_runtime(Kube(None)), _sweep(GRID)))
    assert outcome.status["phase"] == "Pending"
    assert "TrainingJob ml/train (spec.jobRef.name) does not exist" in outcome.status["message"]
    assert _conditions(outcome.status)["Stalled"] == ("True", "TrainingJobNotFound")
    # Trials made, all finished, then the TrainingJob deleted: Stalled, not Reconciling forever.
    kube = Kube(JOB)
    first = asyncio.run(workflow.reconcile(_runtime(kube), _sweep(GRID)))
    for run in kube.runs.values():
        run["status"] = {"phase": "Succeeded", "metrics": [{"name": "accuracy", "value": 0.5}]}
    kube.job = None
    again = asyncio.run(workflow.reconcile(_runtime(kube), _sweep(GRID, dict(first.status))))
    assert again.status["phase"] == "Running" and again.status["succeeded"] == 2
    assert _conditions(again.status)["Stalled"] == ("True", "TrainingJobNotFound")
    assert "spec.jobRef.name" in again.status["message"] and len(kube.runs) == 2


def test_an_objective_the_job_lacks_stalls() -> None:
    no_metrics = {k: v for k, v in GRID.items() if k != "metrics"}
    outcome = asyncio.run(workflow.reconcile(_runtime(Kube(JOB)), _sweep(no_metrics)))
    assert (
        "spec.objective.metric 'accuracy' is not a metric of TrainingJob train" in outcome.status["message"]
    )


def test_trials_get_the_job_metrics_copied_at_creation() -> None:
    metrics = [{"name": "accuracy", "regex": "acc=([0-9.]+)"}]
    job = {"metadata": {"name": "train"}, "spec": {"args": [], "metrics": metrics}}
    no_metrics = {k: v for k, v in GRID.items() if k != "metrics"}
    kube = Kube(job)
    asyncio.run(workflow.reconcile(_runtime(kube), _sweep(no_metrics)))
    job["spec"]["metrics"] = [{"name": "accuracy", "regex": "changed=([0-9.]+)"}]  # a later edit
    assert [r["spec"]["metrics"] for r in kube.runs.values()] == [metrics, metrics]


def test_an_arg_parameter_on_a_container_job_without_args_or_command_stalls_naming_it() -> None:
    job = {"metadata": {"name": "train"}, "spec": {"container": {"image": "iad.ocir.io/ns/train:1"}}}
    kube = Kube(job)
    outcome = asyncio.run(workflow.reconcile(_runtime(kube), _sweep(GRID)))
    assert kube.runs == {}
    assert _conditions(outcome.status)["Stalled"] == ("True", "ArgNeedsCommand")
    assert "spec.parameters batch use arg" in outcome.status["message"]
    assert "image's CMD" in outcome.status["message"]
    job["spec"]["container"]["command"] = ["python", "train.py"]
    asyncio.run(workflow.reconcile(_runtime(kube), _sweep(GRID)))
    assert kube.runs["lr-sweep-000"]["spec"]["container"] == {"args": ["--batch=16"]}


def _archive_of(kube: Kube, phases: dict[int, str]) -> None:
    """The TrainingJob's run archive as a TTL or history limit leaves it (records of deleted trials)."""
    kube.config_maps["train-runs-archive"] = {
        "data": {
            f"lr-sweep-{i:03d}.json": json.dumps(
                {"name": f"lr-sweep-{i:03d}", "phase": phase, "sweep": "lr-sweep", "trial": str(i)}
            )
            for i, phase in phases.items()
        }
    }


def test_an_index_is_reserved_before_its_trial_exists_and_never_used_again() -> None:
    kube = Kube(JOB)
    first = asyncio.run(workflow.reconcile(_runtime(kube), _sweep(GRID)))
    assert kube.status == {"trials": 2, "creating": [0, 1]}
    # Written after the creates: every reserved index is made, none left to confirm.
    assert first.status["trials"] == 2 and first.status["creating"] is None
    # Both deleted by hand since, and the sweep sees it: counted as gone, never made again.
    kube.runs.clear()
    again = asyncio.run(workflow.reconcile(_runtime(kube), _sweep(GRID, dict(first.status))))
    assert sorted(kube.runs) == ["lr-sweep-002", "lr-sweep-003"], sorted(kube.runs)
    assert again.status["canceled"] == 2 and again.status["trials"] == 4
    assert [o["phase"] for o in again.status["outcomes"]] == ["Gone", "Gone"]


def test_reserved_trials_made_and_expired_before_the_status_write_are_not_made_again() -> None:
    kube = Kube(JOB)
    asyncio.run(workflow.reconcile(_runtime(kube), _sweep(GRID)))
    # The status write after the creates was lost; the trials failed and expired (TTL) since: the
    # TTL archived them first, which tells the sweep they existed.
    kube.runs.clear()
    _archive_of(kube, {0: "Failed", 1: "Failed"})
    again = asyncio.run(workflow.reconcile(_runtime(kube), _sweep(GRID, dict(kube.status))))
    assert sorted(kube.runs) == ["lr-sweep-002", "lr-sweep-003"], sorted(kube.runs)
    assert again.status["failed"] == 2 and again.status["trials"] == 4
    assert again.status["creating"] is None


@pytest.mark.parametrize("indexed", [False, True], ids=["list", "watch-index"])
def test_a_crash_between_reserving_and_creating_loses_no_trial(indexed: bool) -> None:
    kube = Kube(JOB)
    spec = {**GRID, "parallelism": 3}
    create = kube.create_training_job_run

    async def crash_after_the_first(namespace: str, body: dict[str, Any]) -> dict[str, Any] | None:
        await create(namespace, body)
        raise SystemExit("OCIDS_DEBUG_CRASH_AFTER=create_trial")  # as crash_after does, then no write

    kube.create_training_job_run = crash_after_the_first  # type: ignore[method-assign]
    with pytest.raises(SystemExit):
        asyncio.run(workflow.reconcile(_runtime(kube), _sweep(spec)))
    assert sorted(kube.runs) == ["lr-sweep-000"] and kube.status == {"trials": 3, "creating": [0, 1, 2]}
    kube.create_training_job_run = create  # type: ignore[method-assign]
    # The restarted operator: the reserved trials that do not exist are made, not counted as gone.
    listed = [trial_summary(run) for run in kube.runs.values()] if indexed else None
    again = asyncio.run(workflow.reconcile(_runtime(kube), _sweep(spec, dict(kube.status)), listed))
    assert sorted(kube.runs) == ["lr-sweep-000", "lr-sweep-001", "lr-sweep-002"]
    assert again.status["trials"] == 3 and again.status["active"] == 3
    assert again.status["canceled"] == 0 and again.status["outcomes"] == []
    assert again.status["creating"] is None
    assert [e[2].split(":")[0] for e in again.events] == [
        "created trial lr-sweep-001",
        "created trial lr-sweep-002",
    ]


def test_a_spec_the_api_server_admits_but_the_model_refuses_stalls_naming_the_field() -> None:
    kube = Kube(JOB)
    spec = {**GRID, "metrics": [{"name": "accuracy", "regex": "accuracy=[0-9.]+"}]}
    with pytest.raises(ReconcileError) as caught:
        asyncio.run(workflow.reconcile(_runtime(kube), _sweep(spec)))
    assert caught.value.outcome.kind is OutcomeKind.STALLED
    assert caught.value.outcome.reason == "InvalidSpec"
    assert "spec.metrics.0.regex" in caught.value.outcome.message
    assert kube.runs == {} and kube.status == {}


def test_reserved_trials_never_made_are_given_back_when_the_sweep_stops() -> None:
    kube = Kube(JOB)
    spec = {**GRID, "parallelism": 3, "maxFailures": 1}
    kube.runs["lr-sweep-000"] = {
        "metadata": {
            "name": "lr-sweep-000",
            "uid": "uid-0",
            "labels": {"ocids.io/sweep": "lr-sweep", "ocids.io/trial": "0"},
            "ownerReferences": [{"uid": "uid-sweep"}],
            "annotations": {},
        },
        "spec": {},
        "status": {"phase": "Failed"},
    }
    # Stopped after making trial 0, which failed since: the sweep fails, 1 and 2 are never made.
    status = {"trials": 3, "creating": [0, 1, 2], "phase": "Running"}
    outcome = asyncio.run(workflow.reconcile(_runtime(kube), _sweep(spec, status)))
    assert sorted(kube.runs) == ["lr-sweep-000"] and outcome.status["phase"] == "Failed"
    assert outcome.status["trials"] == 1 and outcome.status["creating"] is None
    assert outcome.status["canceled"] == 0


def test_trials_expired_before_the_sweep_saw_them_finish_are_read_from_the_run_archive() -> None:
    kube = Kube(JOB)
    first = asyncio.run(workflow.reconcile(_runtime(kube), _sweep(GRID)))
    # Both finished and were expired by a short TTL before the next look; the TTL archived them.
    succeeded = {"name": "lr-sweep-000", "phase": "Succeeded", "metrics": {"accuracy": 0.8}}
    failed = {"name": "lr-sweep-001", "phase": "Failed"}
    kube.config_maps["train-runs-archive"] = {
        "data": {
            "lr-sweep-000.json": json.dumps({**succeeded, "sweep": "lr-sweep", "trial": "0"}),
            "lr-sweep-001.json": json.dumps({**failed, "sweep": "lr-sweep", "trial": "1"}),
        }
    }
    kube.runs.clear()
    again = asyncio.run(workflow.reconcile(_runtime(kube), _sweep(GRID, dict(first.status))))
    assert (again.status["succeeded"], again.status["failed"], again.status["canceled"]) == (1, 1, 0)
    assert again.status["best"] == {
        "run": "lr-sweep-000",
        "parameters": {"lr": "0.1", "batch": "16"},
        "metric": 0.8,
    }


def test_the_timer_reads_the_index_and_counts_a_trial_not_indexed_yet_as_active() -> None:
    kube = Kube(JOB)
    first = asyncio.run(workflow.reconcile(_runtime(kube), _sweep(GRID)))
    kube.runs["lr-sweep-000"]["status"] = {"phase": "InProgress"}
    # The watch has delivered lr-sweep-000 only: lr-sweep-001 exists (GET) and holds its slot.
    listed = [trial_summary(kube.runs["lr-sweep-000"])]
    again = asyncio.run(workflow.reconcile(_runtime(kube), _sweep(GRID, dict(first.status)), listed))
    assert sorted(kube.runs) == ["lr-sweep-000", "lr-sweep-001"] and again.status["active"] == 2
    assert trial_of(listed[0], "accuracy") == trial_of(kube.runs["lr-sweep-000"], "accuracy")


def _stalled(status: str, since: str) -> list[dict[str, Any]]:
    return [
        {"type": "Stalled", "status": status, "reason": "TrainingJobNotFound", "lastTransitionTime": since}
    ]


@pytest.mark.parametrize(
    ("conditions", "waiting"),
    [
        (_stalled("True", NOW), True),
        (_stalled("True", "2999-01-01T00:00:00Z"), False),  # stalled just now: every interval still
        (_stalled("False", NOW), False),
        ([], False),
    ],
)
def test_a_sweep_stalled_on_a_missing_job_is_looked_at_less_often(
    conditions: list[dict[str, Any]], waiting: bool
) -> None:
    assert workflow.waiting_for_job(_sweep(GRID, {"conditions": conditions}), 60) is waiting


def test_a_refused_create_gives_its_index_back() -> None:
    kube = Kube(JOB)
    kube.refuse_create = True
    with pytest.raises(workflow.ProgressMade) as caught:
        asyncio.run(workflow.reconcile(_runtime(kube), _sweep(GRID)))
    assert caught.value.status["trials"] == 0 and kube.status == {"trials": 2, "creating": [0, 1]}
    assert caught.value.status["creating"] is None
    kube.refuse_create = False
    asyncio.run(workflow.reconcile(_runtime(kube), _sweep(GRID, dict(caught.value.status))))
    assert sorted(kube.runs) == ["lr-sweep-000", "lr-sweep-001"]


def test_nothing_is_written_when_nothing_changed() -> None:
    kube = Kube(JOB)
    first = asyncio.run(workflow.reconcile(_runtime(kube), _sweep(GRID)))
    again = asyncio.run(workflow.reconcile(_runtime(kube), _sweep(GRID, dict(first.status))))
    assert again.status["message"] == "0 of 6 trials finished, 2 running"  # no longer "created 2"
    # As the API server keeps it: without the nulls.
    kept = {key: value for key, value in {**first.status, **again.status}.items() if value is not None}
    third = asyncio.run(workflow.reconcile(_runtime(kube), _sweep(GRID, kept)))
    assert dict(third.status) == {} and not third.events


def test_an_early_stop_event_only_when_the_cancel_was_written() -> None:
    spec = {**GRID, "parallelism": 4, "earlyStopping": {"minTrials": 1, "startStep": 2}}
    kube = Kube(JOB)
    first = asyncio.run(workflow.reconcile(_runtime(kube), _sweep(spec)))
    kube.runs["lr-sweep-000"]["status"] = {
        "phase": "Succeeded",
        "metrics": [{"name": "accuracy", "value": 0.9, "step": 2, "history": [{"step": 1, "value": 0.9}]}],
    }
    kube.runs["lr-sweep-001"]["status"] = {
        "phase": "InProgress",
        "metrics": [{"name": "accuracy", "value": 0.1, "step": 2, "history": [{"step": 1, "value": 0.1}]}],
    }
    kube.cancel_answers = False  # the trial was deleted meanwhile
    again = asyncio.run(workflow.reconcile(_runtime(kube), _sweep(spec, dict(first.status))))
    assert "TrialEarlyStopped" not in [e[1] for e in again.events]
    kube.cancel_answers = True
    third = asyncio.run(workflow.reconcile(_runtime(kube), _sweep(spec, dict(again.status))))
    assert "TrialEarlyStopped" in [e[1] for e in third.events]


def test_the_random_seed_is_chosen_once_from_the_object_and_shown() -> None:
    spec = {**GRID, "strategy": "random", "maxTrials": 3}
    first = asyncio.run(workflow.reconcile(_runtime(Kube(JOB)), _sweep(spec)))
    second = asyncio.run(workflow.reconcile(_runtime(Kube(JOB)), _sweep(spec)))
    assert first.status["seed"] == second.status["seed"] is not None


def test_deleting_a_sweep_cancels_its_unfinished_trials_first_then_deletes_them_once_finished() -> None:
    kube = Kube(JOB)
    asyncio.run(workflow.reconcile(_runtime(kube), _sweep(GRID)))
    kube.runs["lr-sweep-000"]["status"] = {"phase": "Succeeded"}
    kube.runs["lr-sweep-001"]["status"] = {"phase": "InProgress"}
    outcome = asyncio.run(workflow.finalize(_runtime(kube), _sweep(GRID)))
    # A Retain trial deleted while running would leave its OCI run running: canceled first.
    assert kube.canceled == ["lr-sweep-001"]
    assert not any(r["metadata"].get("deletionTimestamp") for r in kube.runs.values())
    assert outcome.requeue_after is not None and "canceling 1 unfinished" in outcome.status["message"]
    kube.runs["lr-sweep-001"]["status"] = {"phase": "Canceled"}
    outcome = asyncio.run(workflow.finalize(_runtime(kube), _sweep(GRID)))
    assert all(r["metadata"].get("deletionTimestamp") for r in kube.runs.values())
    assert outcome.requeue_after is not None and "deleting 2 trials" in outcome.status["message"]
    kube.runs.clear()
    assert asyncio.run(workflow.finalize(_runtime(kube), _sweep(GRID))).requeue_after is None


def test_a_sweep_whose_spec_the_model_refuses_is_still_deleted_with_its_trials() -> None:
    kube = Kube(JOB)
    asyncio.run(workflow.reconcile(_runtime(kube), _sweep(GRID)))
    for run in kube.runs.values():
        run["status"] = {"phase": "Succeeded"}
    bad = {**GRID, "metrics": [{"name": "accuracy", "regex": "("}]}
    outcome = asyncio.run(workflow.finalize(_runtime(kube), _sweep(bad)))
    assert all(r["metadata"].get("deletionTimestamp") for r in kube.runs.values())
    assert outcome.requeue_after is not None and "deleting 2 trials" in outcome.status["message"]


@pytest.mark.parametrize(
    ("status", "deleting", "watched"),
    [
        ({}, False, True),
        ({"phase": "Running", "active": 2}, False, True),
        ({"phase": "Succeeded", "active": 1}, False, True),  # a target reached: trials still canceling
        ({"phase": "Succeeded", "active": 0}, False, False),
        ({"phase": "Failed", "active": 0}, False, False),
        ({"phase": "Running", "active": 2}, True, False),  # the finalizer's business now
    ],
)
def test_the_timer_follows_a_sweep_while_it_has_work(
    status: dict[str, Any], deleting: bool, watched: bool
) -> None:
    body = _sweep(GRID, status)
    if deleting:
        body["metadata"]["deletionTimestamp"] = "now"
    assert workflow.watching(body) is watched


@pytest.mark.parametrize(("final", "expires"), [(False, False), (True, True), (None, True)])
def test_a_run_is_not_expired_while_its_last_metric_lines_are_read(final: bool | None, expires: bool) -> None:
    """Its archive record, and a sweep that has not seen it finish, need its final values."""
    from ocids_operator.handlers.run_cleanup import _expires

    status: dict[str, Any] = {"phase": "Succeeded"}
    if final is not None:
        status["metricsFinal"] = final
    body = {"metadata": {"name": "t"}, "spec": {"ttlSecondsAfterFinished": 0}, "status": status}
    assert _expires(body) is expires  # type: ignore[arg-type]

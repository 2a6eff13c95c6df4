"""A sweep's trials as objects: their names, labels and specs, and what the sweep reads back. Pure."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from typing import Any

from ..api import API_VERSION, TrainingJobSweepSpec
from ..api.sweep import VALUE_PLACEHOLDER
from .kinds import TRAINING_JOB_SWEEP_KIND
from .phases import RunPhase, run_finished, run_settled
from .sweep_stopping import first_values

SWEEP_LABEL = "ocids.io/sweep"
TRIAL_LABEL = "ocids.io/trial"
PARAMETERS_ANNOTATION = "ocids.io/parameters"
# Set with spec.cancel by the sweep itself: why it canceled the trial (early stopping is counted apart).
EARLY_STOPPED_ANNOTATION = "ocids.io/early-stopped"
CANCELED_BY_SWEEP_ANNOTATION = "ocids.io/canceled-by-sweep"
MAX_LABEL = 63
MAX_NAME = 253


def _shortened(text: str, limit: int) -> str:
    """`text` if it fits, else its start and a hash of the whole (distinct names stay distinct)."""
    if len(text) <= limit:
        return text
    digest = hashlib.sha256(text.encode()).hexdigest()[:8]
    return f"{text[: limit - 9].rstrip('-.')}-{digest}"


def label_value(name: str) -> str:
    return _shortened(name, MAX_LABEL)


def trial_name(sweep: str, index: int) -> str:
    suffix = f"-{index:03d}"
    return _shortened(sweep, MAX_NAME - len(suffix)) + suffix


def trials_selector(sweep: str) -> str:
    return f"{SWEEP_LABEL}={label_value(sweep)}"


def owned_by(body: Mapping[str, Any], uid: str) -> bool:
    """A trial of this sweep, not of an earlier sweep of the same name."""
    refs = (body.get("metadata") or {}).get("ownerReferences") or []
    return any(ref.get("uid") == uid for ref in refs)


def trial_body(
    sweep: Mapping[str, Any],
    spec: TrainingJobSweepSpec,
    index: int,
    parameters: Mapping[str, str],
    job_spec: Mapping[str, Any],
) -> dict[str, Any]:
    """The TrainingJobRun of trial `index`: the TrainingJob's run with these parameter values."""
    meta = sweep["metadata"]
    run_spec: dict[str, Any] = {"jobRef": {"name": spec.job_ref.name}}
    env = [{"name": p.env, "value": parameters[p.name]} for p in spec.parameters if p.env]
    if env:
        run_spec["env"] = env
    extra = [p.arg.replace(VALUE_PLACEHOLDER, parameters[p.name]) for p in spec.parameters if p.arg]
    if extra:
        # A run's args replace the job's, so the job's own come first.
        container = job_spec.get("container")
        if container:
            run_spec["container"] = {"args": [*(container.get("args") or []), *extra]}
        else:
            run_spec["args"] = [*(job_spec.get("args") or []), *extra]
    # The trial keeps the metrics it was created with: a later edit of the TrainingJob's metrics
    # must not change what a running trial (and the sweep's objective) reads.
    metrics = (
        [metric.to_k8s() for metric in spec.metrics] if spec.metrics is not None else job_spec.get("metrics")
    )
    if metrics:
        run_spec["metrics"] = [dict(metric) for metric in metrics]
    if spec.trial_template is not None:
        run_spec.update(spec.trial_template.to_k8s())
    return {
        "apiVersion": API_VERSION,
        "kind": "TrainingJobRun",
        "metadata": {
            "name": trial_name(meta["name"], index),
            "namespace": meta["namespace"],
            "labels": {SWEEP_LABEL: label_value(meta["name"]), TRIAL_LABEL: str(index)},
            "annotations": {PARAMETERS_ANNOTATION: json.dumps(dict(parameters))},
            # Not the controller: the TrainingJob is (one controller reference only). Kubernetes GC
            # deletes a run only once every owner is gone, so the sweep's finalizer deletes its trials.
            "ownerReferences": [
                {
                    "apiVersion": API_VERSION,
                    "kind": TRAINING_JOB_SWEEP_KIND.name,
                    "name": meta["name"],
                    "uid": meta["uid"],
                    "controller": False,
                    "blockOwnerDeletion": False,
                }
            ],
        },
        "spec": run_spec,
    }


def arg_problem(spec: TrainingJobSweepSpec, job_spec: Mapping[str, Any]) -> str | None:
    """Arguments cannot be appended to a container job that sets neither args nor command: the
    trial's args would replace the image's CMD (its whole command line, for most images)."""
    container = job_spec.get("container")
    uses_arg = [p.name for p in spec.parameters if p.arg]
    if not container or not uses_arg or container.get("args") or container.get("command"):
        return None
    return (
        f"spec.parameters {', '.join(uses_arg)} use arg, but TrainingJob {spec.job_ref.name} runs a "
        "container that sets neither container.args nor container.command: the trial's args would "
        "replace the image's CMD. Set container.command (or container.args) on the TrainingJob, or "
        "pass the parameter with env"
    )


def trial_summary(body: Mapping[str, Any]) -> dict[str, Any]:
    """What the sweep reads of a trial (`trial_of`, `owned_by`, `run_finished`): kept in memory
    for every trial of every sweep (the watch-fed index), so only that."""
    meta, spec, status = body.get("metadata") or {}, body.get("spec") or {}, body.get("status") or {}
    annotations = meta.get("annotations") or {}
    kept = (PARAMETERS_ANNOTATION, EARLY_STOPPED_ANNOTATION, CANCELED_BY_SWEEP_ANNOTATION)
    return {
        "metadata": {
            "name": meta.get("name"),
            "namespace": meta.get("namespace"),
            "uid": meta.get("uid"),
            "labels": dict(meta.get("labels") or {}),
            "annotations": {key: annotations[key] for key in kept if key in annotations},
            "ownerReferences": [{"uid": ref.get("uid")} for ref in meta.get("ownerReferences") or []],
            **({"deletionTimestamp": meta["deletionTimestamp"]} if meta.get("deletionTimestamp") else {}),
        },
        "spec": {"cancel": bool(spec.get("cancel"))},
        "status": {
            key: status[key]
            for key in ("phase", "nextAttemptAt", "metrics", "metricsFinal")
            if status.get(key) is not None
        },
    }


@dataclasses.dataclass(frozen=True)
class Trial:
    """What the sweep reads from one of its TrainingJobRuns."""

    name: str
    uid: str
    index: int
    phase: str | None
    finished: bool
    cancel_requested: bool
    early_stopped: bool
    parameters: dict[str, str]
    objective: float | None
    steps: int  # observations of the objective so far
    first: tuple[float, ...]  # its first values (the median rule's)
    retry_pending: bool = False  # its curve is the failed attempt's: not judged until it reruns
    settled: bool = False  # finished, and its last log lines read (core/phases.run_settled)

    @property
    def succeeded(self) -> bool:
        return self.finished and self.phase == RunPhase.SUCCEEDED

    @property
    def failed(self) -> bool:
        return self.finished and self.phase in (RunPhase.FAILED, RunPhase.DELETED)

    @property
    def canceled(self) -> bool:
        return self.finished and self.phase == RunPhase.CANCELED


def trial_of(body: Mapping[str, Any], objective_metric: str | None) -> Trial | None:
    """None for an object that is not a trial (no index label)."""
    meta, spec, status = body.get("metadata") or {}, body.get("spec") or {}, body.get("status") or {}
    try:
        index = int((meta.get("labels") or {})[TRIAL_LABEL])
    except (KeyError, ValueError):
        return None
    annotations = meta.get("annotations") or {}
    try:
        parameters = {
            str(k): str(v) for k, v in json.loads(annotations.get(PARAMETERS_ANNOTATION, "{}")).items()
        }
    except (ValueError, AttributeError):
        parameters = {}
    metric = next((m for m in status.get("metrics") or [] if m.get("name") == objective_metric), None)
    value = (metric or {}).get("value")
    return Trial(
        name=str(meta.get("name")),
        uid=str(meta.get("uid")),
        index=index,
        phase=status.get("phase"),
        finished=run_finished(status),
        cancel_requested=bool(spec.get("cancel")),
        early_stopped=EARLY_STOPPED_ANNOTATION in annotations,
        parameters=parameters,
        objective=None if value is None else float(value),
        steps=int((metric or {}).get("step") or 0),
        first=tuple(first_values(metric)),
        retry_pending=bool(status.get("nextAttemptAt")),
        settled=run_settled(status),
    )

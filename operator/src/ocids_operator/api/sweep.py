"""TrainingJobSweep: a hyperparameter search over a TrainingJob, one TrainingJobRun per trial."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints, model_validator

from .base import ApiModel, KubeObject, StatusModel
from .common import (
    Condition,
    DefinedTags,
    DeletionPolicy,
    EnvVarName,
    FreeformTags,
    InfrastructureOverride,
    LoggingConfig,
)
from .markers import Atomic, ExactlyOne, ListMap, Rule
from .run_policies import MAX_METRIC_FIRST_VALUES, MetricName, Metrics, RetryPolicy
from .training_job_run import JobRef

ParameterName = Annotated[
    str, StringConstraints(min_length=1, max_length=63, pattern=r"^[A-Za-z_][A-Za-z0-9_.-]*$")
]
ParameterValue = Annotated[str, StringConstraints(max_length=256)]
MAX_PARAMETERS = 16
MAX_VALUES = 100
MAX_RANGE_POINTS = 1000
# Trials one sweep may make: each is a TrainingJobRun object and an OCI job run.
MAX_TRIALS = 1000
MAX_LEADERBOARD = 10
VALUE_PLACEHOLDER = "{value}"


class ParameterRange(ApiModel):
    """Numbers from min to max (both included): every `step`, or `count` points spread on a linear or
    logarithmic scale."""

    cel_rules = (
        ExactlyOne("step", "count", name="step-or-count"),
        Rule(
            rule="self.min < self.max", message="range.min must be less than range.max", name="min-below-max"
        ),
        Rule(
            rule="!has(self.scale) || self.scale != 'log' || self.min > 0.0",
            message="range.min must be above 0 with scale log",
            field_path=".min",
            name="log-above-zero",
        ),
        Rule(
            rule="!has(self.step) || !has(self.scale) || self.scale == 'linear'",
            message="range.scale log needs count, not step",
            field_path=".scale",
            name="log-needs-count",
        ),
        Rule(
            rule=f"!has(self.step) || (self.max - self.min) / self.step < {MAX_RANGE_POINTS}.0",
            message=f"range.step is too small: at most {MAX_RANGE_POINTS} values",
            field_path=".step",
            name="step-points",
        ),
    )

    min: float
    """Smallest value."""
    max: float
    """Largest value."""
    step: float | None = Field(default=None, gt=0)
    """Distance between values (linear): min, min+step, ... up to max."""
    count: int | None = Field(default=None, ge=2, le=MAX_RANGE_POINTS)
    """How many values, min and max included."""
    scale: Literal["linear", "log"] | None = None
    """With count: linear (default) spreads values evenly, log evenly on a logarithmic scale (min > 0)."""

    @model_validator(mode="after")
    def _valid(self) -> ParameterRange:
        if (self.step is None) == (self.count is None):
            raise ValueError(self.cel_rule("step-or-count").message)
        if self.min >= self.max:
            raise ValueError(self.cel_rule("min-below-max").message)
        if self.scale == "log" and self.min <= 0:
            raise ValueError(self.cel_rule("log-above-zero").message)
        if self.scale == "log" and self.step is not None:
            raise ValueError(self.cel_rule("log-needs-count").message)
        if self.step is not None and (self.max - self.min) / self.step >= MAX_RANGE_POINTS:
            raise ValueError(self.cel_rule("step-points").message)
        return self


class SweepParameter(ApiModel):
    """One hyperparameter: its values, and how a trial receives it (an environment variable or an
    argument)."""

    cel_rules = (
        ExactlyOne("values", "range", name="values-or-range"),
        ExactlyOne("env", "arg", name="env-or-arg"),
        Rule(
            rule=f"!has(self.arg) || self.arg.contains('{VALUE_PLACEHOLDER}')",
            message=f"arg must contain {VALUE_PLACEHOLDER}, where the trial's value goes",
            field_path=".arg",
            name="arg-placeholder",
        ),
    )

    name: ParameterName
    """Parameter name, as the leaderboard shows it."""
    values: Annotated[list[ParameterValue], Atomic(), Field(min_length=1, max_length=MAX_VALUES)] | None = (
        None
    )
    """The values to try, as strings."""
    range: ParameterRange | None = None
    """Numbers to try."""
    env: EnvVarName | None = None
    """The environment variable that receives the value (merged over the TrainingJob's env)."""
    arg: Annotated[str, StringConstraints(min_length=1, max_length=256)] | None = None
    """An argument appended to the TrainingJob's args, {value} replaced by the value, e.g. --lr={value}.
    Arguments of several parameters are appended in parameter order."""

    @model_validator(mode="after")
    def _valid(self) -> SweepParameter:
        if (self.values is None) == (self.range is None):
            raise ValueError(self.cel_rule("values-or-range").message)
        if (self.env is None) == (self.arg is None):
            raise ValueError(self.cel_rule("env-or-arg").message)
        if self.arg is not None and VALUE_PLACEHOLDER not in self.arg:
            raise ValueError(self.cel_rule("arg-placeholder").message)
        return self


Goal = Literal["maximize", "minimize"]


class Objective(ApiModel):
    """What the sweep optimizes: the latest value of a metric of each succeeded trial."""

    metric: MetricName
    """A metric of spec.metrics (or of the TrainingJob's metrics)."""
    goal: Goal = "maximize"
    """maximize or minimize."""
    target: float | None = None
    """Stop once a succeeded trial reaches this value (at least it with maximize, at most with
    minimize): no new trials, active ones are canceled, phase Succeeded."""


class EarlyStopping(ApiModel):
    """Stop trials that are clearly worse than the completed ones (the median stopping rule)."""

    rule: Literal["median"] = "median"
    """median (Katib's medianstop): a running trial with at least startStep observations is canceled
    when the best of its first startStep values is worse than the median of the succeeded trials'
    means of their first startStep values."""
    min_trials: int = Field(default=3, ge=1, le=MAX_TRIALS)
    """Succeeded trials needed before any trial is stopped."""
    start_step: int = Field(default=4, ge=1, le=MAX_METRIC_FIRST_VALUES)
    """Observations of the objective a trial needs before it may be stopped, and how many of each
    trial's first values the rule compares (at most 32: a trial's status keeps its first 32 values
    whole)."""


class TrialTemplate(ApiModel):
    """TrainingJobRun fields every trial gets."""

    maximum_runtime_in_minutes: int | None = Field(default=None, ge=1)
    """Overrides the TrainingJob's maximum runtime."""
    infrastructure: InfrastructureOverride | None = None
    """Overrides the TrainingJob's shape."""
    logging: LoggingConfig | None = None
    """Replaces the TrainingJob's logging configuration (metrics need logging enabled)."""
    retry_policy: RetryPolicy | None = None
    """Retries of a failed trial."""
    deletion_policy: DeletionPolicy = "Delete"
    """What deleting a trial (or the sweep) does to its OCI run."""
    ttl_seconds_after_finished: int | None = Field(default=None, ge=0, le=31536000)
    """Delete each trial that long after it finished; the sweep's leaderboard keeps its result."""
    freeform_tags: FreeformTags = {}
    """Free-form tags on each trial's OCI job run."""
    defined_tags: DefinedTags = {}
    """Defined tags on each trial's OCI job run."""


# A sweep's search is fixed at creation: a trial's parameters are a function of the spec (and seed),
# so changing the space midway would give new meaning to trials already run.
IMMUTABLE_SWEEP_FIELDS = (
    "jobRef",
    "parameters",
    "strategy",
    "seed",
    "maxTrials",
    "metrics",
    "objective",
    "earlyStopping",
    "trialTemplate",
)


def _unchanged(field: str) -> str:
    same = f"self.{field} == oldSelf.{field}"
    return f"has(self.{field}) == has(oldSelf.{field}) && (!has(self.{field}) || {same})"


class TrainingJobSweepSpec(ApiModel):
    """A search over a TrainingJob's parameters: each trial is a TrainingJobRun named
    <sweep>-<index>. Fixed at creation except parallelism and maxFailures."""

    cel_rules = (
        Rule(
            rule=" && ".join(f"({_unchanged(field)})" for field in IMMUTABLE_SWEEP_FIELDS),
            message="spec is immutable except parallelism and maxFailures: create a new TrainingJobSweep",
            reason="FieldValueForbidden",
            name="immutable-search",
        ),
        Rule(
            rule="self.strategy != 'random' || has(self.maxTrials)",
            message="strategy random needs maxTrials",
            field_path=".maxTrials",
            reason="FieldValueRequired",
            name="random-needs-max-trials",
        ),
        Rule(
            rule="!has(self.seed) || self.strategy == 'random'",
            message="seed applies to strategy random only",
            field_path=".seed",
            name="seed-random-only",
        ),
        Rule(
            rule="!has(self.metrics) || !has(self.objective) || "
            "self.metrics.exists(m, m.name == self.objective.metric)",
            message="objective.metric must be one of spec.metrics",
            field_path=".objective.metric",
            name="objective-in-metrics",
        ),
        Rule(
            rule="!has(self.earlyStopping) || has(self.objective)",
            message="earlyStopping needs an objective",
            field_path=".earlyStopping",
            name="early-stopping-needs-objective",
        ),
        Rule(
            rule="self.parameters.all(p, !has(p.env) || "
            "self.parameters.filter(q, has(q.env) && q.env == p.env).size() == 1)",
            message="two parameters set the same env variable",
            field_path=".parameters",
            name="unique-env",
        ),
    )

    job_ref: JobRef
    """The TrainingJob whose runs are the trials (same namespace)."""
    parameters: Annotated[
        list[SweepParameter], ListMap("name"), Field(min_length=1, max_length=MAX_PARAMETERS)
    ]
    """The search space: every combination of the parameters' values (grid), or a sample (random)."""
    strategy: Literal["grid", "random"] = "grid"
    """grid: combinations in order (the first parameter changes slowest); random: maxTrials distinct
    combinations drawn with seed."""
    seed: int | None = Field(default=None, ge=0, le=2**31 - 1)
    """Random strategy: the same seed draws the same trials; unset: chosen once and shown in status.seed."""
    max_trials: int | None = Field(default=None, ge=1, le=MAX_TRIALS)
    """Trials at most (grid: the first maxTrials combinations). Needed with random."""
    parallelism: int = Field(default=1, ge=1, le=100)
    """Trials unfinished at once (a trial waiting for a retry counts)."""
    max_failures: int = Field(default=3, ge=1, le=MAX_TRIALS)
    """Failed trials that fail the sweep: no new trials, active ones canceled."""
    metrics: Metrics | None = None
    """Metrics every trial reads from its log (replacing the TrainingJob's); unset: the TrainingJob's."""
    objective: Objective | None = None
    """What the leaderboard ranks by; unset: no ranking, every trial runs."""
    early_stopping: EarlyStopping | None = None
    """Stop trials clearly worse than the completed ones; unset: every trial runs to its end."""
    trial_template: TrialTemplate | None = None
    """TrainingJobRun fields every trial gets; unset: the TrainingJob's (deletionPolicy Delete)."""

    @model_validator(mode="after")
    def _valid(self) -> TrainingJobSweepSpec:
        broken = {
            "random-needs-max-trials": self.strategy == "random" and self.max_trials is None,
            "seed-random-only": self.seed is not None and self.strategy != "random",
            "early-stopping-needs-objective": self.early_stopping is not None and self.objective is None,
        }
        for name, is_broken in broken.items():
            if is_broken:
                raise ValueError(self.cel_rule(name).message)
        in_metrics = (
            self.metrics is None
            or self.objective is None
            or (self.objective.metric in {metric.name for metric in self.metrics})
        )
        if not in_metrics:
            raise ValueError(self.cel_rule("objective-in-metrics").message)
        envs = [p.env for p in self.parameters if p.env]
        if len(envs) != len(set(envs)):
            raise ValueError(self.cel_rule("unique-env").message)
        names = [p.name for p in self.parameters]
        if len(names) != len(set(names)):
            raise ValueError("parameter names must be unique")
        return self


SweepPhase = Literal["Pending", "Running", "Succeeded", "Failed"]


class TrialResult(StatusModel):
    """One succeeded trial and its objective value."""

    run: str
    """The trial's TrainingJobRun."""
    parameters: dict[str, str] = {}
    """Its parameter values."""
    metric: float | None = None
    """Its objective value (the metric's latest value)."""


TrialOutcomePhase = Literal["Succeeded", "Failed", "Canceled", "EarlyStopped", "Gone"]


class TrialOutcome(StatusModel):
    """How one finished trial ended, kept in the sweep's status: the trial itself may be deleted
    later (its TTL, a user), and the sweep's counts, phase and median rule must not change then."""

    index: int
    """The trial's index (its TrainingJobRun is <sweep>-<index>)."""
    phase: TrialOutcomePhase
    """Succeeded, Failed, Canceled, EarlyStopped, or Gone (deleted before the sweep saw it finish;
    counted as canceled)."""
    metric: float | None = None
    """Its objective value (the metric's latest value)."""
    start_mean: float | None = None
    """The mean of its first earlyStopping.startStep objective values (the median rule's input)."""


class TrainingJobSweepStatus(StatusModel):
    """Observed state, written by the operator."""

    phase: SweepPhase | None = None
    """Pending (waiting, see message), Running, Succeeded (every trial done, or objective.target
    reached) or Failed (maxFailures trials failed, or none succeeded)."""
    seed: int | None = None
    """The random strategy's seed (spec.seed, or the one chosen)."""
    total_trials: int | None = None
    """Trials the sweep makes in all."""
    trials: int | None = None
    """Trial indices used so far (reserved before each trial is created, so none is used twice)."""
    creating: Annotated[list[int], Atomic(), Field(max_length=MAX_TRIALS)] | None = None
    """Indices reserved whose trials are not known to exist yet: the next pass creates those still
    missing (an operator stopped between reserving and creating loses none)."""
    active: int | None = None
    """Trials not finished yet."""
    succeeded: int | None = None
    """Trials that succeeded."""
    failed: int | None = None
    """Trials that failed."""
    canceled: int | None = None
    """Trials canceled (by a user, or because the sweep ended) or deleted before they finished,
    early-stopped ones not included."""
    early_stopped: int | None = None
    """Trials canceled by the early stopping rule."""
    outcomes: Annotated[list[TrialOutcome], Atomic(), Field(max_length=MAX_TRIALS)] = []
    """Each finished trial's outcome, by index; the counts and the phase are computed from it."""
    leaderboard: Annotated[list[TrialResult], Atomic(), Field(max_length=MAX_LEADERBOARD)] = []
    """The best succeeded trials by the objective, best first (kept when a trial is deleted)."""
    best: TrialResult | None = None
    """The best trial so far."""
    observed_generation: int | None = None
    """metadata.generation last reconciled."""
    conditions: Annotated[list[Condition], ListMap("type")] = []
    """Ready, Reconciling, Stalled."""
    message: str | None = None
    """Last error or notable event, for humans."""


class TrainingJobSweep(KubeObject):
    """A whole TrainingJobSweep object as the API server returns it."""

    kind: Literal["TrainingJobSweep"] = "TrainingJobSweep"
    """Kind."""
    spec: TrainingJobSweepSpec
    """Desired state."""
    status: TrainingJobSweepStatus | None = None
    """Observed state."""

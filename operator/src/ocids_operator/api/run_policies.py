"""What TrainingJobs, TrainingJobRuns, sweeps and schedules share about experiments and recurring
work: metrics read from a run's log, retries, and the records a pruned run leaves behind."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import re2
from pydantic import AfterValidator, Field, StringConstraints

from .base import ApiModel, StatusModel
from .markers import Atomic, ListMap, Rule

MetricName = Annotated[
    str, StringConstraints(min_length=1, max_length=63, pattern=r"^[A-Za-z_][A-Za-z0-9_.-]*$")
]
MAX_METRICS = 16
# Points of one metric's history kept in status: enough for the median rule's steps, bounded so a
# run that logs a metric every second keeps a small object (older points are thinned, not dropped
# from the front: the curve's start stays comparable across trials).
MAX_METRIC_HISTORY = 64
# The first values of a metric, kept whole once the history is thinned (earlyStopping.startStep).
MAX_METRIC_FIRST_VALUES = 32
MAX_ATTEMPTS = 11  # the first attempt and up to 10 retries
MAX_RETRIES = 10


def _re2_options() -> re2.Options:
    options = re2.Options()
    options.log_errors = False  # the error is raised (and named per field), not printed by RE2
    return options


def compile_metric_regex(regex: str) -> re2._Regexp:
    """A metric regex compiled with RE2: matching takes time linear in the line, whatever the regex
    (a backtracking engine can take hours on one line for a regex like `((?:a|a)+)$`)."""
    return re2.compile(regex, _re2_options())


def compiles_with_one_group(regex: str) -> str:
    """A metric regex must compile (RE2 syntax) and capture the value in exactly one group."""
    try:
        compiled = compile_metric_regex(regex)
    except re2.error as exc:
        reason = exc.args[0].decode(errors="replace") if exc.args and isinstance(exc.args[0], bytes) else exc
        raise ValueError(f"regex does not compile (RE2 syntax): {reason}") from None
    if compiled.groups != 1:
        raise ValueError(f"regex must have exactly one capture group (the value); it has {compiled.groups}")
    return regex


def unique_metric_names(metrics: list[MetricSpec] | None) -> list[MetricSpec] | None:
    names = [metric.name for metric in metrics or []]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(f"metric names must be unique: {', '.join(duplicates)}")
    return metrics


class MetricSpec(ApiModel):
    """A metric the run prints in its log: the operator reads the matching lines through OCI Logging
    search (the run's job must have logging enabled); no change to the script is needed."""

    name: MetricName
    """Metric name, e.g. accuracy."""
    regex: Annotated[
        str, StringConstraints(min_length=1, max_length=512), AfterValidator(compiles_with_one_group)
    ]
    """A regular expression (RE2 syntax: no backreferences nor lookarounds) with exactly one capture
    group, the value (a number), e.g. 'test accuracy=([0-9.]+)'. Each matching log line is one
    observation (one step); only a line's first 4096 characters are matched."""


Metrics = Annotated[
    list[MetricSpec], ListMap("name"), Field(max_length=MAX_METRICS), AfterValidator(unique_metric_names)
]


class MetricPoint(StatusModel):
    """One observation of a metric."""

    step: int
    """1 for the first matching log line, 2 for the second, and so on."""
    value: float
    """The captured value."""


class MetricStatus(StatusModel):
    """The latest value of one metric, and a bounded history of it."""

    name: str
    """Metric name (spec.metrics)."""
    value: float | None = None
    """The latest value."""
    step: int | None = None
    """How many matching lines were read so far (the latest value's step)."""
    updated_at: datetime | None = None
    """When the latest value was logged."""
    history: Annotated[list[MetricPoint], Atomic(), Field(max_length=MAX_METRIC_HISTORY)] = []
    """Earlier values, oldest first; thinned evenly once longer than 64 points."""
    first_values: Annotated[list[float], Atomic(), Field(max_length=MAX_METRIC_FIRST_VALUES)] = []
    """Once the history is thinned: the first 32 values, kept whole (a sweep's median stopping rule
    compares trials by their first values)."""


class RetryOn(ApiModel):
    """Which failures are retried. A bug is not worth a retry: by default a non-zero exit code is not."""

    exit_codes: Annotated[list[Annotated[int, Field(ge=1, le=255)]], Atomic(), Field(max_length=32)] = []
    """Exit codes that are retried (e.g. 137 for a process killed for memory). Other non-zero exit
    codes are not retried."""
    infrastructure_failures: bool = True
    """Retry runs OCI failed for reasons of its own (capacity, out of host capacity, internal errors:
    OCI's lifecycleDetails without an exit code)."""
    timeouts: bool = False
    """Retry runs stopped for exceeding maximumRuntimeInMinutes."""


class RetryBackoff(ApiModel):
    """How long to wait before each retry: initialSeconds, then multiplied by factor each time, up to
    maxSeconds."""

    cel_rules = (
        Rule(
            rule="self.maxSeconds >= self.initialSeconds",
            message="maxSeconds must be at least initialSeconds",
            field_path=".maxSeconds",
            name="backoff-max-at-least-initial",
        ),
    )

    initial_seconds: int = Field(default=30, ge=0, le=86400)
    """Wait before the first retry."""
    factor: int = Field(default=2, ge=1, le=10)
    """Each later wait is the previous one times this."""
    max_seconds: int = Field(default=600, ge=0, le=86400)
    """Longest wait."""


class RetryPolicy(ApiModel):
    """Retries of a failed run: each retry is a new OCI job run of the same job. Succeeded and
    canceled runs are never retried."""

    max_retries: int = Field(ge=0, le=MAX_RETRIES)
    """Retries after the first attempt (0: none)."""
    backoff: RetryBackoff = RetryBackoff()
    """Waits between attempts."""
    retry_on: RetryOn = RetryOn()
    """Which failures are retried."""


AttemptPhase = Literal["Succeeded", "Failed", "Canceled", "Deleted"]


class RunAttempt(StatusModel):
    """One OCI job run made for this TrainingJobRun (the first attempt, or a retry)."""

    attempt: int
    """1 for the first run, 2 for the first retry, and so on."""
    job_run_id: str | None = None
    """OCID of the OCI job run."""
    phase: AttemptPhase | None = None
    """How it ended."""
    exit_code: int | None = None
    """Its exit code, when known."""
    lifecycle_details: str | None = None
    """OCI's lifecycleDetails."""
    time_started: datetime | None = None
    """When its artifact started."""
    time_finished: datetime | None = None
    """When it ended."""
    retried: bool | None = None
    """Whether another attempt followed it."""
    reason: str | None = None
    """Why it was or was not retried, e.g. 'exit code 1 is not retryable'."""


class ArchiveStatus(StatusModel):
    """Where finished TrainingJobRuns removed by history limits or TTL are recorded."""

    config_map: str | None = None
    """ConfigMap (same namespace) holding one JSON record per pruned run; list them with
    `kubectl ocids runs --archived <trainingjob>`."""
    count: int | None = None
    """Records it holds (the oldest are dropped beyond OCIDS_ARCHIVE_MAX_RECORDS)."""

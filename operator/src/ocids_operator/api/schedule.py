"""TrainingJobSchedule: TrainingJobRuns of a TrainingJob made on a cron schedule, like a CronJob's Jobs."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, create_model, model_validator

from .base import ApiModel, KubeObject, StatusModel
from .common import Condition, DeletionPolicy
from .markers import Atomic, Immutable, ListMap, Rule
from .training_job_run import JobRef, TrainingJobRunSpec

TrainingJobSchedulePhase = Literal["Pending", "Active", "Suspended", "Failed"]
ConcurrencyPolicy = Literal["Allow", "Forbid", "Replace"]
ScheduleEngine = Literal["Operator", "OCI"]

# The shapes OCI and CronJob agree on; the operator parses the fields themselves (a clear error
# naming spec.schedule), the pattern only turns away what is plainly not a cron line.
CRON_PATTERN = r"^(@(yearly|annually|monthly|weekly|daily|midnight|hourly)|\S+( +\S+){4})$"
CronExpression = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=CRON_PATTERN)]
TimeZoneName = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z][A-Za-z0-9_+/-]*$")
]
LabelMap = Annotated[dict[str, Annotated[str, StringConstraints(max_length=63)]], Field(max_length=64)]
AnnotationMap = Annotated[dict[str, Annotated[str, StringConstraints(max_length=4096)]], Field(max_length=64)]

# A schedule's runs are TrainingJobRuns of its jobRef: the template is every TrainingJobRun spec
# field but these two (the run's TrainingJob is the schedule's, and a new run is never canceled).
_NOT_TEMPLATED = ("job_ref", "cancel")


# The operator's own labels (ocids.io/schedule, ocids.io/sweep, ...) say which object made a run:
# a template setting one would make a schedule's runs pass for a sweep's trials.
RESERVED_LABEL_PREFIX = "ocids.io/"
# Below this a run is missed for ordinary latency (the API server, a busy operator), as CronJob warns.
MIN_STARTING_DEADLINE_SECONDS = 10


class RunTemplateMetadata(ApiModel):
    """Labels and annotations put on every run the schedule makes."""

    cel_rules = (
        Rule(
            rule=f"!has(self.labels) || self.labels.all(k, !k.startsWith('{RESERVED_LABEL_PREFIX}'))",
            message=(
                f"runTemplate.metadata.labels: keys starting with {RESERVED_LABEL_PREFIX} are the "
                "operator's (it sets ocids.io/schedule and ocids.io/scheduled-time itself)"
            ),
            field_path=".labels",
            reason="FieldValueForbidden",
            name="no-reserved-labels",
        ),
    )

    labels: LabelMap = {}
    """Labels of each run; keys starting with ocids.io/ are refused (the operator's own)."""
    annotations: AnnotationMap = {}
    """Annotations of each run."""

    @model_validator(mode="after")
    def _no_reserved_labels(self) -> RunTemplateMetadata:
        if any(key.startswith(RESERVED_LABEL_PREFIX) for key in self.labels):
            raise ValueError(self.cel_rule("no-reserved-labels").message)
        return self


def _template_fields() -> dict[str, Any]:
    fields: dict[str, Any] = {
        name: (info.annotation, info)
        for name, info in TrainingJobRunSpec.model_fields.items()
        if name not in _NOT_TEMPLATED
    }
    fields["metadata"] = (
        RunTemplateMetadata | None,
        Field(default=None, description="Labels and annotations of each run."),
    )
    return fields


RunTemplate = create_model(  # type: ignore[call-overload]
    "RunTemplate",
    __base__=ApiModel,
    __doc__="What each run gets: the TrainingJobRun spec fields (all but jobRef and cancel), and metadata.",
    **_template_fields(),
)


class TrainingJobScheduleSpec(ApiModel):
    """When to run a TrainingJob, and how the runs are kept."""

    job_ref: JobRef
    """The TrainingJob each run runs, in the same namespace."""
    schedule: CronExpression
    """A 5-field cron line (minute hour day-of-month month day-of-week, e.g. '*/15 * * * *'), or
    @yearly, @monthly, @weekly, @daily or @hourly, read in timeZone."""
    time_zone: TimeZoneName = "UTC"
    """IANA time zone the schedule is read in, e.g. Europe/Berlin. Daylight saving, for a line with a
    fixed hour ('30 2 * * *'): a time the change skips runs at the first minute after it, a time it
    repeats runs once. A line with a wildcard or step hour ('*/30 * * * *') follows real time: the
    skipped hour's times do not run, the repeated hour's run twice."""
    suspend: bool = False
    """true: no new runs (running ones go on). Times passed meanwhile count as missed: on resume the
    latest runs if still within startingDeadlineSeconds."""
    starting_deadline_seconds: int | None = Field(default=None, ge=MIN_STARTING_DEADLINE_SECONDS, le=31536000)
    """A run not started within this many seconds of its time (the operator was down, the schedule
    suspended) is missed, not run late; unset: the latest missed time always runs once. At least 10:
    a run starts up to a few seconds after its time."""
    concurrency_policy: ConcurrencyPolicy = "Allow"
    """Allow: runs may overlap. Forbid: a time that comes while a run is unfinished is skipped.
    Replace: the unfinished runs are canceled (spec.cancel) and the new one starts."""
    successful_runs_history_limit: int = Field(default=3, ge=0, le=1000)
    """Succeeded runs kept; older ones are archived in the TrainingJob's status.archive ConfigMap and
    deleted (their OCI runs follow each run's deletionPolicy)."""
    failed_runs_history_limit: int = Field(default=1, ge=0, le=1000)
    """Failed, canceled and deleted runs kept; older ones go as the successful ones do."""
    run_template: RunTemplate = Field(default_factory=lambda: RunTemplate())  # type: ignore[valid-type]
    """What each run gets besides jobRef: env, args, infrastructure, deletionPolicy, metadata..."""
    engine: Annotated[ScheduleEngine, Immutable("engine")] = "Operator"
    """Operator: the operator makes each run when it is due. OCI: an OCI Data Science Schedule makes
    them (it fires even while the operator is down) and the operator follows them. Immutable."""
    deletion_policy: DeletionPolicy = "Delete"
    """engine OCI: what deleting this object does to its OCI Schedule. Delete: deleted first (it makes
    no more runs). Retain: left in OCI as it is, still making runs, which are no longer followed. The
    runs this object made follow their own deletionPolicy either way."""


class TrainingJobScheduleStatus(StatusModel):
    """Observed state, written by the operator."""

    phase: TrainingJobSchedulePhase | None = None
    """Active: runs are made on schedule. Suspended: spec.suspend. Pending: waiting (see message).
    Failed: cannot schedule as specified (see message)."""
    schedule_id: str | None = None
    """OCID of the OCI Data Science Schedule (engine OCI)."""
    compartment_id: str | None = None
    """engine OCI: the OCI Schedule's compartment, recorded at create (deletion needs no TrainingJob)."""
    service_account_name: str | None = None
    """engine OCI: the ServiceAccount whose OCI identity made the OCI Schedule ('' for the namespace's
    default identity), recorded at create."""
    last_schedule_run_details: str | None = None
    """engine OCI: what OCI says of the Schedule's latest firing (lastScheduleRunDetails)."""
    last_schedule_time: datetime | None = None
    """The latest time a run was made for."""
    next_schedule_time: datetime | None = None
    """When the next run is due (unset while suspended)."""
    last_successful_time: datetime | None = None
    """When the latest run that succeeded finished."""
    active: Annotated[list[str], Atomic()] = []
    """The schedule's unfinished runs (TrainingJobRun names)."""
    active_count: int | None = None
    """How many runs are unfinished."""
    missed_schedules: int | None = None
    """Times that passed without a run (operator down, suspended, past startingDeadlineSeconds), in all."""
    last_missed_time: datetime | None = None
    """The latest such time."""
    skipped_schedules: int | None = None
    """Times skipped because a run was unfinished (concurrencyPolicy Forbid), in all."""
    last_skipped_time: datetime | None = None
    """The latest such time."""
    observed_generation: int | None = None
    """metadata.generation last reconciled."""
    conditions: Annotated[list[Condition], ListMap("type")] = []
    """Ready, Reconciling, Stalled."""
    message: str | None = None
    """Last error or notable event, for humans."""


class TrainingJobSchedule(KubeObject):
    """A whole TrainingJobSchedule object as the API server returns it."""

    kind: Literal["TrainingJobSchedule"] = "TrainingJobSchedule"
    """Kind."""
    spec: TrainingJobScheduleSpec
    """Desired state."""
    status: TrainingJobScheduleStatus | None = None
    """Observed state."""

"""What the CRDs say besides the schema: names, scope, printer columns."""

from __future__ import annotations

from dataclasses import dataclass

from .base import GROUP, ApiModel, StatusModel
from .budget import TrainingBudgetSpec, TrainingBudgetStatus
from .markers import PrinterColumn
from .schedule import TrainingJobScheduleSpec, TrainingJobScheduleStatus
from .sweep import TrainingJobSweepSpec, TrainingJobSweepStatus
from .training_job import TrainingJobSpec, TrainingJobStatus
from .training_job_run import TrainingJobRunSpec, TrainingJobRunStatus

CATEGORY = "ocids"

AGE = PrinterColumn("Age", ".metadata.creationTimestamp", "date")
NODES = PrinterColumn("Nodes", ".status.nodeCount", "integer", "Nodes of a multi-node job (blank: one)")
MESSAGE = PrinterColumn("Message", ".status.message", description="Last error or notable event", priority=1)


@dataclass(frozen=True)
class Resource:
    kind: str
    short_names: tuple[str, ...]
    description: str
    spec_model: type[ApiModel]
    status_model: type[StatusModel]
    printer_columns: tuple[PrinterColumn, ...]

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def plural(self) -> str:
        return f"{self.singular}s"

    @property
    def crd_name(self) -> str:
        return f"{self.plural}.{GROUP}"


TRAINING_JOB = Resource(
    kind="TrainingJob",
    short_names=("tj",),
    description="A template for OCI Data Science job runs; maps to one OCI job per revision.",
    spec_model=TrainingJobSpec,
    status_model=TrainingJobStatus,
    printer_columns=(
        PrinterColumn("Shape", ".status.shape", description="Compute shape of the current OCI job"),
        PrinterColumn("Phase", ".status.phase"),
        NODES,
        PrinterColumn("Revision", ".status.revision", "integer", "OCI jobs created so far"),
        PrinterColumn("Spend", ".status.spend.month", "number", "What its runs cost this month (UTC)"),
        AGE,
        PrinterColumn("Job OCID", ".status.jobId", priority=1),
        MESSAGE,
    ),
)

TRAINING_JOB_RUN = Resource(
    kind="TrainingJobRun",
    short_names=("tjr",),
    description="One run of a TrainingJob; maps to one OCI Data Science job run.",
    spec_model=TrainingJobRunSpec,
    status_model=TrainingJobRunStatus,
    # No URL columns, not even in -o wide: a log search link is hundreds of characters. status.logs.url
    # and `kubectl ocids open` keep them.
    printer_columns=(
        PrinterColumn("Job", ".spec.jobRef.name"),
        PrinterColumn("Phase", ".status.phase"),
        NODES,
        PrinterColumn("Started", ".status.timeStarted", "date"),
        PrinterColumn("Finished", ".status.timeFinished", "date"),
        PrinterColumn("Duration", ".status.duration", description="How long the artifact ran"),
        PrinterColumn("Exit Code", ".status.exitCode", "integer"),
        PrinterColumn(
            "Metric", ".status.metrics[0].value", "number", "Latest value of the first of spec.metrics"
        ),
        PrinterColumn(
            "Cost", ".status.cost.estimate.amount", "number", "Estimated cost, written when it ends"
        ),
        AGE,
        PrinterColumn("Run OCID", ".status.jobRunId", priority=1),
        MESSAGE,
    ),
)

TRAINING_JOB_SCHEDULE = Resource(
    kind="TrainingJobSchedule",
    short_names=("tjsch",),
    description="TrainingJobRuns of a TrainingJob made on a cron schedule, like a CronJob's Jobs.",
    spec_model=TrainingJobScheduleSpec,
    status_model=TrainingJobScheduleStatus,
    printer_columns=(
        PrinterColumn("Schedule", ".spec.schedule"),
        PrinterColumn("Suspend", ".spec.suspend", "boolean"),
        PrinterColumn("Active", ".status.activeCount", "integer", "Unfinished runs"),
        PrinterColumn("Last Schedule", ".status.lastScheduleTime", "date"),
        # A string: kubectl prints a future "date" column as <invalid>.
        PrinterColumn("Next", ".status.nextScheduleTime", description="When the next run is due (UTC)"),
        AGE,
        PrinterColumn("Job", ".spec.jobRef.name", priority=1),
        PrinterColumn("Time Zone", ".spec.timeZone", priority=1),
        MESSAGE,
    ),
)

TRAINING_JOB_SWEEP = Resource(
    kind="TrainingJobSweep",
    short_names=("tjs",),
    description="A hyperparameter search over a TrainingJob: one TrainingJobRun per trial.",
    spec_model=TrainingJobSweepSpec,
    status_model=TrainingJobSweepStatus,
    printer_columns=(
        PrinterColumn("Job", ".spec.jobRef.name"),
        PrinterColumn("Phase", ".status.phase"),
        PrinterColumn("Trials", ".status.trials", "integer", "Trials created so far"),
        PrinterColumn("Succeeded", ".status.succeeded", "integer"),
        PrinterColumn("Failed", ".status.failed", "integer"),
        PrinterColumn("Best", ".status.best.run", description="The best trial by the objective"),
        PrinterColumn("Metric", ".status.best.metric", "number", "The best trial's objective value"),
        AGE,
        MESSAGE,
    ),
)

TRAINING_BUDGET = Resource(
    kind="TrainingBudget",
    short_names=("tbud",),
    description="A spending limit per period over a namespace's TrainingJobs: runs that would cross it wait.",
    spec_model=TrainingBudgetSpec,
    status_model=TrainingBudgetStatus,
    printer_columns=(
        PrinterColumn("Period", ".spec.period"),
        PrinterColumn("Limit", ".spec.limit.amount", "number"),
        PrinterColumn("Spent", ".status.spent", "number", "Spent this period"),
        PrinterColumn("Committed", ".status.committed", "number", "Worst case of the active runs"),
        PrinterColumn("Remaining", ".status.remaining", "number"),
        PrinterColumn("Held", ".status.heldCount", "integer", "Runs waiting for this budget"),
        PrinterColumn("Phase", ".status.phase"),
        AGE,
        PrinterColumn("Currency", ".spec.limit.currency", priority=1),
        MESSAGE,
    ),
)

RESOURCES: tuple[Resource, ...] = (
    TRAINING_JOB,
    TRAINING_JOB_RUN,
    TRAINING_JOB_SWEEP,
    TRAINING_JOB_SCHEDULE,
    TRAINING_BUDGET,
)
TRAINING_JOBS = TRAINING_JOB.plural
TRAINING_JOB_RUNS = TRAINING_JOB_RUN.plural
TRAINING_JOB_SWEEPS = TRAINING_JOB_SWEEP.plural
TRAINING_JOB_SCHEDULES = TRAINING_JOB_SCHEDULE.plural
TRAINING_BUDGETS = TRAINING_BUDGET.plural

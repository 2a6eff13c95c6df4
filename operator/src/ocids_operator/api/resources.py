"""What the CRDs say besides the schema: names, scope, printer columns."""

from __future__ import annotations

from dataclasses import dataclass

from .base import ApiModel
from .markers import PrinterColumn
from .training_job import TrainingJobSpec, TrainingJobStatus
from .training_job_run import TrainingJobRunSpec, TrainingJobRunStatus

GROUP = "ocids.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
TRAINING_JOBS = "trainingjobs"
TRAINING_JOB_RUNS = "trainingjobruns"
CATEGORY = "ocids"

AGE = PrinterColumn("Age", ".metadata.creationTimestamp", "date")


@dataclass(frozen=True)
class Resource:
    kind: str
    plural: str
    singular: str
    short_names: tuple[str, ...]
    description: str
    spec_model: type[ApiModel]
    status_model: type[ApiModel]
    printer_columns: tuple[PrinterColumn, ...]

    @property
    def crd_name(self) -> str:
        return f"{self.plural}.{GROUP}"


TRAINING_JOB = Resource(
    kind="TrainingJob",
    plural=TRAINING_JOBS,
    singular="trainingjob",
    short_names=("tj",),
    description="A template for OCI Data Science job runs; maps to one OCI job per revision.",
    spec_model=TrainingJobSpec,
    status_model=TrainingJobStatus,
    printer_columns=(
        PrinterColumn("Shape", ".status.shape", description="Compute shape of the current OCI job"),
        PrinterColumn("Phase", ".status.phase"),
        PrinterColumn("Revision", ".status.revision", "integer", "OCI jobs created so far"),
        AGE,
        PrinterColumn("Job OCID", ".status.jobId", priority=1),
    ),
)

TRAINING_JOB_RUN = Resource(
    kind="TrainingJobRun",
    plural=TRAINING_JOB_RUNS,
    singular="trainingjobrun",
    short_names=("tjr",),
    description="One run of a TrainingJob; maps to one OCI Data Science job run.",
    spec_model=TrainingJobRunSpec,
    status_model=TrainingJobRunStatus,
    printer_columns=(
        PrinterColumn("Job", ".spec.jobRef.name"),
        PrinterColumn("Phase", ".status.phase"),
        PrinterColumn("Started", ".status.timeStarted", "date"),
        PrinterColumn("Finished", ".status.timeFinished", "date"),
        PrinterColumn("Exit Code", ".status.exitCode", "integer"),
        AGE,
        PrinterColumn("Run OCID", ".status.jobRunId", priority=1),
        PrinterColumn("Logs", ".status.logs.url", priority=1),
    ),
)

RESOURCES: tuple[Resource, ...] = (TRAINING_JOB, TRAINING_JOB_RUN)

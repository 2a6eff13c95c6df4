"""TrainingJobRun: one execution of a TrainingJob (one OCI job run, or one per attempt with retries).
Its spec never changes, except to cancel it."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, StringConstraints

from .base import ApiModel, KubeObject, StatusModel
from .common import (
    MAX_ARGS,
    MAX_ENV,
    MAX_STORAGE_MOUNTS,
    UNIQUE_MOUNTS_RULE,
    Arg,
    Condition,
    ContainerOverride,
    DefinedTags,
    DeletionPolicy,
    DisplayName,
    EnvVar,
    FreeformTags,
    InfrastructureOverride,
    InfrastructureType,
    KubeName,
    LoggingConfig,
    StorageMount,
    unique_env_names,
    unique_mounts,
)
from .cost import RunCost
from .markers import Atomic, ListMap, Rule
from .nodes import MAX_NODE_GROUPS, NodeGroupOverride, NodeGroupStatus, unique_names
from .run_policies import MAX_ATTEMPTS, Metrics, MetricStatus, RetryPolicy, RunAttempt

TrainingJobRunPhase = Literal[
    "Pending",
    "Accepted",
    "InProgress",
    "Succeeded",
    "Failed",
    "Canceling",
    "Canceled",
    "NeedsAttention",
    "Deleted",
]
TERMINAL_RUN_PHASES: frozenset[str] = frozenset({"Succeeded", "Failed", "Canceled", "Deleted"})


class JobRef(ApiModel):
    """The TrainingJob to run, in the same namespace."""

    name: KubeName
    """TrainingJob name."""


# Every spec field but `cancel`: a TrainingJobRun's spec is fixed at creation, except that it may be
# canceled (tests/unit/api check that each field of the model is listed here).
IMMUTABLE_RUN_FIELDS = (
    "jobRef",
    "displayName",
    "env",
    "args",
    "maximumRuntimeInMinutes",
    "infrastructure",
    "logging",
    "container",
    "storageMounts",
    "nodeGroups",
    "freeformTags",
    "definedTags",
    "deletionPolicy",
    "metrics",
    "retryPolicy",
    "ttlSecondsAfterFinished",
)


def _unchanged(field: str) -> str:
    same = f"self.{field} == oldSelf.{field}"
    return f"has(self.{field}) == has(oldSelf.{field}) && (!has(self.{field}) || {same})"


class TrainingJobRunSpec(ApiModel):
    """What to run; fixed at creation (create another TrainingJobRun to run again), except `cancel`."""

    cel_rules = (
        Rule(
            rule=" && ".join(f"({_unchanged(field)})" for field in IMMUTABLE_RUN_FIELDS),
            message="spec is immutable except cancel: create a new TrainingJobRun instead",
            reason="FieldValueForbidden",
            name="immutable-except-cancel",
        ),
        Rule(
            rule="!has(oldSelf.cancel) || !oldSelf.cancel || (has(self.cancel) && self.cancel)",
            message="cancel cannot be undone: create a new TrainingJobRun instead",
            field_path=".cancel",
            reason="FieldValueForbidden",
            name="cancel-is-final",
        ),
    )

    job_ref: JobRef
    """The TrainingJob to run."""
    display_name: DisplayName | None = None
    """Name of the OCI job run; default <namespace>-<name>."""
    env: Annotated[
        list[EnvVar], ListMap("name"), Field(max_length=MAX_ENV), AfterValidator(unique_env_names)
    ] = []
    """Environment variables merged over the TrainingJob's (same name: this value wins)."""
    args: Annotated[list[Arg], Atomic(), Field(max_length=MAX_ARGS)] | None = None
    """Command-line arguments that replace the TrainingJob's; unset: the TrainingJob's."""
    maximum_runtime_in_minutes: int | None = Field(default=None, ge=1)
    """Overrides the TrainingJob's maximum runtime."""
    infrastructure: InfrastructureOverride | None = None
    """Overrides the TrainingJob's shape (and optionally block storage, subnet and capacity reservation)."""
    logging: LoggingConfig | None = None
    """Replaces the TrainingJob's logging configuration."""
    container: ContainerOverride | None = None
    """Replaces fields of the TrainingJob's container for this run (the TrainingJob must run a
    container); no new OCI job is created."""
    storage_mounts: (
        Annotated[
            list[StorageMount],
            Field(max_length=MAX_STORAGE_MOUNTS),
            UNIQUE_MOUNTS_RULE,
            AfterValidator(unique_mounts),
        ]
        | None
    ) = None
    """Storage mounts of this run, replacing the TrainingJob's (an empty list: none); unset: the
    TrainingJob's."""
    node_groups: (
        Annotated[
            list[NodeGroupOverride],
            ListMap("name"),
            Field(max_length=MAX_NODE_GROUPS),
            AfterValidator(unique_names),
        ]
        | None
    ) = None
    """Changes to the TrainingJob's node groups for this run, matched by name (multi-node jobs only)."""
    freeform_tags: FreeformTags = {}
    """Free-form tags on the OCI job run. Keys starting with ocids.io/ are the operator's own tags,
    which it adds to every run."""
    defined_tags: DefinedTags = {}
    """Defined tags on the OCI job run: {namespace: {key: value}}."""
    deletion_policy: DeletionPolicy = "Delete"
    """Delete: deleting this object cancels the OCI run if still active, then deletes it. Retain: leave it."""
    metrics: Metrics | None = None
    """Metrics read from the run's log into status.metrics, replacing the TrainingJob's; unset: the
    TrainingJob's."""
    retry_policy: RetryPolicy | None = None
    """Retries of a failed run, each a new OCI job run; unset: no retry."""
    ttl_seconds_after_finished: int | None = Field(default=None, ge=0, le=31536000)
    """Delete this TrainingJobRun that long after it finished (Succeeded, Failed, Canceled or Deleted,
    after its last retry); its OCI run follows deletionPolicy and a record of it is archived (see the
    TrainingJob's status.archive). Unset: kept until deleted or pruned by the TrainingJob's history
    limits."""
    cancel: bool = False
    """Set to true to cancel the run: an active OCI run is canceled (and never retried), a run not
    yet created is never created. The object is kept, with phase Canceled. Cannot be undone."""


class RunLogs(StatusModel):
    """Where the run's output can be read."""

    log_group_id: str | None = None
    """Log group OCID."""
    log_id: str | None = None
    """Log OCID."""
    url: str | None = None
    """OCI Console log search for this run."""


# status.logTail's bound in the schema: OCIDS_LOG_TAIL_BYTES may not be set higher.
MAX_LOG_TAIL_BYTES = 65536


class RunOutputs(StatusModel):
    """Where the run's outputs go (TrainingJob spec.outputs)."""

    uri: str | None = None
    """oci://bucket@namespace/prefix/<job run OCID>/: the driver uploads the output directory's files
    here when the run ends."""


class TrainingJobRunStatus(StatusModel):
    """Observed state, written by the operator."""

    phase: TrainingJobRunPhase | None = None
    """Pending: not in OCI yet (e.g. waiting for the TrainingJob to be Active; see message). The rest follow
    the OCI job run's lifecycle: Accepted, InProgress, Succeeded, Failed, Canceling, Canceled,
    NeedsAttention (see lifecycleDetails) or Deleted (removed in OCI). Succeeded, Failed,
    Canceled and Deleted are final."""
    job_run_id: str | None = None
    """OCID of the OCI job run."""
    job_id: str | None = None
    """OCID of the OCI job it ran from."""
    job_revision: int | None = None
    """TrainingJob revision it ran from."""
    infrastructure_type: InfrastructureType | None = None
    """OCI's infrastructure type of the run: STANDALONE, ME_STANDALONE, MULTI_NODE or
    MANAGED_COMPUTE_CLUSTER."""
    node_count: int | None = None
    """Nodes of a multi-node run (its groups' replicas added up)."""
    node_groups: Annotated[list[NodeGroupStatus], ListMap("name")] = []
    """Each node group of a multi-node run, as OCI reports it."""
    lifecycle_details: str | None = None
    """OCI's lifecycleDetails, e.g. the failing exit code."""
    exit_code: int | None = None
    """Exit code of the artifact, once known."""
    time_accepted: datetime | None = None
    """When OCI accepted the run."""
    time_started: datetime | None = None
    """When the artifact started."""
    time_finished: datetime | None = None
    """When the run finished."""
    duration: str | None = None
    """How long the artifact ran (timeFinished - timeStarted), e.g. 4m12s; set once the run finished."""
    console_url: str | None = None
    """The OCI job run in the OCI Console."""
    logs: RunLogs | None = None
    """Where the run's logs are."""
    outputs: RunOutputs | None = None
    """Where the run's outputs go (TrainingJobs with spec.outputs); written when the run is created."""
    metrics: Annotated[list[MetricStatus], ListMap("name")] = []
    """The latest value of each of spec.metrics read from the run's log, with a bounded history;
    updated while the run runs and once more when it ends."""
    metrics_final: bool | None = None
    """Set when the run finished: false while its last log lines are still being read (Logging
    ingests lines a little after they are printed), true once status.metrics holds the final values
    (or the run reads no metrics)."""
    cost: RunCost | None = None
    """What the run costs: the price table's estimate when it ends, OCI's Usage API figure when it
    arrives."""
    attempt: int | None = None
    """Which attempt jobRunId is: 1 for the first run, 2 for the first retry (spec.retryPolicy)."""
    attempts: Annotated[list[RunAttempt], ListMap("attempt"), Field(max_length=MAX_ATTEMPTS)] = []
    """Each OCI job run made for this TrainingJobRun that has ended, and whether it was retried."""
    next_attempt_at: datetime | None = None
    """When the next retry is created (phase Pending meanwhile, reason RetryBackoff)."""
    log_tail: Annotated[str, StringConstraints(max_length=MAX_LOG_TAIL_BYTES)] | None = None
    """The last lines of the run's log, written once the run finished (redacted, bounded in bytes,
    newest lines kept). Off by default: the operator keeps them only when OCIDS_LOG_TAIL_LINES is
    set above 0."""
    create_attempted_at: datetime | None = None
    """When the operator first asked OCI to create this run. Written before the request, so a run
    whose creation was attempted is never created a second time (see message if none is found)."""
    create_refusals: int | None = None
    """How many CreateJobRun requests OCI refused outright (a 4xx that created nothing). Each refusal
    makes the next request a new one, with its own retry token."""
    cancel_requested_at: datetime | None = None
    """When deleting this object first sent CancelJobRun. Its wait for OCI to stop the run
    (OCIDS_RUN_CANCEL_TIMEOUT_SECONDS) counts from here, not from the deletion."""
    observed_generation: int | None = None
    """metadata.generation last reconciled."""
    conditions: Annotated[list[Condition], ListMap("type")] = []
    """Ready, Reconciling, Stalled, and Succeeded or Failed once finished."""
    message: str | None = None
    """Last error or notable event, for humans."""


class TrainingJobRun(KubeObject):
    """A whole TrainingJobRun object as the API server returns it."""

    kind: Literal["TrainingJobRun"] = "TrainingJobRun"
    """Kind."""
    spec: TrainingJobRunSpec
    """Desired state."""
    status: TrainingJobRunStatus | None = None
    """Observed state."""

"""TrainingJobRun: what to do next, and the OCI run as the core sees it. Pure: no I/O, no kopf."""

from __future__ import annotations

import dataclasses
import datetime
import enum
from collections.abc import Iterable, Mapping
from typing import Any

from ..api import TrainingJobRunSpec
from .phases import ACTIVE_RUN_STATES, TERMINAL_RUN_PHASES, JobPhase, RunPhase, RunState
from .status import ready_for_generation
from .times import parse_time


class RunAction(enum.StrEnum):
    NOTHING = "Nothing"  # terminal: never re-created or re-run
    TRACK = "Track"  # the OCI run exists: the poller follows it
    WAIT = "Wait"  # the TrainingJob is missing or not Active yet
    CREATE = "Create"  # create the OCI run (after a lookup by uid tag)


@dataclasses.dataclass(frozen=True)
class RunPlan:
    action: RunAction
    reason: str
    message: str


def is_terminal(phase: str | None) -> bool:
    return phase in TERMINAL_RUN_PHASES


def plan_run(
    run_status: Mapping[str, Any] | None,
    job: Mapping[str, Any] | None,
    job_name: str,
    now: datetime.datetime | None = None,
) -> RunPlan:
    """`run_status` and `job` are the raw status of the run and the raw TrainingJob (or None).

    A retry waiting for its time (status.nextAttemptAt after `now`, nothing asked of OCI yet) is
    left alone: the retry daemon comes back for it. Once due, the next attempt is created like a
    first one, after the same TrainingJob checks.
    """
    status = run_status or {}
    if is_terminal(status.get("phase")):
        return RunPlan(RunAction.NOTHING, "Finished", f"run finished as {status.get('phase')}")
    next_attempt_at = parse_time(status.get("nextAttemptAt"))
    waiting = next_attempt_at is not None and not status.get("createAttemptedAt")
    if waiting and now is not None and next_attempt_at is not None and now < next_attempt_at:
        return RunPlan(RunAction.NOTHING, "RetryBackoff", f"next attempt at {status.get('nextAttemptAt')}")
    if status.get("jobRunId"):
        return RunPlan(RunAction.TRACK, "Tracking", f"following OCI job run {status['jobRunId']}")
    if job is None:
        return RunPlan(RunAction.WAIT, "TrainingJobNotFound", f"TrainingJob {job_name} does not exist")
    job_status = job.get("status") or {}
    if job_status.get("phase") != JobPhase.ACTIVE or not job_status.get("jobId"):
        phase = job_status.get("phase") or JobPhase.PENDING.value
        return RunPlan(
            RunAction.WAIT,
            "TrainingJobNotActive",
            f"waiting for TrainingJob {job_name} ({phase}) to be Active",
        )
    meta = job.get("metadata") or {}
    if meta.get("deletionTimestamp"):
        return RunPlan(RunAction.WAIT, "TrainingJobDeleting", f"TrainingJob {job_name} is being deleted")
    if meta.get("generation") is not None and job_status.get("observedGeneration") != meta.get("generation"):
        # An edit is being applied (maybe a new revision): run what the spec now says.
        return RunPlan(
            RunAction.WAIT, "TrainingJobUpdating", f"waiting for TrainingJob {job_name} to apply its edit"
        )
    if not ready_for_generation(job):  # e.g. its latest edit was rejected: the jobId is the replaced job's
        return RunPlan(
            RunAction.WAIT, "TrainingJobNotReady", f"waiting for TrainingJob {job_name} to be Ready"
        )
    return RunPlan(RunAction.CREATE, "Creating", f"creating an OCI job run of {job_status['jobId']}")


@dataclasses.dataclass(frozen=True)
class RunView:
    """The parts of an OCI JobRun (or JobRunSummary) the status is built from."""

    id: str
    job_id: str | None
    compartment_id: str | None
    lifecycle_state: str
    lifecycle_details: str | None = None
    time_accepted: datetime.datetime | None = None
    time_started: datetime.datetime | None = None
    time_finished: datetime.datetime | None = None
    log_group_id: str | None = None
    log_id: str | None = None
    tags: Mapping[str, str] = dataclasses.field(default_factory=dict)
    # (name, lifecycleState, lifecycleDetails) per node group of a multi-node run, as GET JobRun
    # reports them; empty when not known (a JobRunSummary carries none) and for a single-node run.
    node_groups: tuple[tuple[str, str, str | None], ...] = ()
    # Who made the run (OCI's createdBy): a user, a resource principal, or the OCI Schedule's OCID for
    # the runs a Schedule fires. Unlike freeform tags, whoever creates a run cannot set it.
    created_by: str | None = None

    @property
    def state(self) -> RunState | None:
        return RunState.of(self.lifecycle_state)

    @property
    def phase(self) -> RunPhase | None:
        state = self.state
        return None if state is None else state.phase


def active_run_ids(runs: Iterable[RunView]) -> list[str]:
    return [run.id for run in runs if run.state in ACTIVE_RUN_STATES]


# OCI keeps an opc-retry-token for 24 hours: a CreateJobRun repeated with it inside that time
# returns the run the first one made instead of a second run. The margin keeps clocks honest.
RETRY_TOKEN_LIFETIME = datetime.timedelta(hours=23)
LOST_RUN_REASON = "RunNotFound"


class CreateAction(enum.StrEnum):
    ADOPT = "Adopt"  # a run tagged with this object's uid exists: it is this object's run
    CREATE = "Create"  # first attempt, or a repeat the retry token still makes at-most-once
    GIVE_UP = "GiveUp"  # creation was attempted, no run is found and no token protects a repeat


@dataclasses.dataclass(frozen=True)
class CreatePlan:
    action: CreateAction
    message: str = ""


def plan_create(
    attempted_at: datetime.datetime | None, found: RunView | None, now: datetime.datetime
) -> CreatePlan:
    """Whether to create this object's one OCI run. `found`: its run by uid tag (DELETED included).

    An object gets at most one OCI run over its whole life: once a create was attempted, the only
    safe repeat is one the retry token still covers; past that, a run that cannot be found has
    been deleted (or was never made), and creating now could run the workload twice.
    """
    if found is not None:
        return CreatePlan(CreateAction.ADOPT)
    if attempted_at is None or now - attempted_at < RETRY_TOKEN_LIFETIME:
        return CreatePlan(CreateAction.CREATE)
    return CreatePlan(CreateAction.GIVE_UP, lost_run_message(attempted_at))


def lost_run_message(attempted_at: datetime.datetime | None) -> str:
    when = f" at {attempted_at.strftime('%Y-%m-%dT%H:%M:%SZ')}" if attempted_at else ""
    return (
        f"an OCI job run was requested for this TrainingJobRun{when}, but no OCI job run tagged with "
        "its uid exists any more (deleted in OCI, e.g. with a retired job); not creating a second one: "
        "delete and re-create the TrainingJobRun to run again"
    )


def cancel_wait_over(
    cancel_requested_at: datetime.datetime | None, now: datetime.datetime, limit_seconds: float
) -> bool:
    """Whether a deletion has waited long enough for OCI to stop a run (a CANCELING that never ends,
    a NEEDS_ATTENTION run OCI will not cancel): then the object is let go, the run left in OCI.

    Counted from the first CancelJobRun actually sent, never from the deletion: an object deleted
    while the operator was down longer than the bound must still get its run canceled first.
    """
    if cancel_requested_at is None:
        return False
    return (now - cancel_requested_at).total_seconds() >= limit_seconds


def rebuilds_job_config(run: TrainingJobRunSpec) -> bool:
    """Whether the run's CreateJobRun sends configuration built from the TrainingJob's spec (OCI
    replaces a block with its override as a whole, so an override carries the job's env, args...)."""
    return bool(
        run.env
        or run.args is not None
        or run.maximum_runtime_in_minutes is not None
        or run.infrastructure is not None
        or run.container is not None
        or run.node_groups
    )


def attempt_job_id(run: TrainingJobRunSpec, status: Mapping[str, Any], job_status: Mapping[str, Any]) -> str:
    """The OCI job a create runs: a retry re-runs the code of the earlier attempts, so it stays on
    their job while it exists (kept in retiredJobIds for their runs after a new revision), unless
    the run overrides configuration: an override is built from the TrainingJob's current spec, and
    mixing it into an older job would run neither revision. Else the current job."""
    current = str(job_status["jobId"])
    earlier = status.get("jobId")
    if not status.get("attempts") or not earlier or earlier == current:
        return current
    if earlier not in (job_status.get("retiredJobIds") or []) or rebuilds_job_config(run):
        return current
    return str(earlier)

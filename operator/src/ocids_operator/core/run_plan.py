"""TrainingJobRun: what to do next, and the OCI run as the core sees it. Pure: no I/O, no kopf."""

from __future__ import annotations

import dataclasses
import datetime
import enum
from collections.abc import Iterable, Mapping
from typing import Any

from .phases import ACTIVE_RUN_STATES, TERMINAL_RUN_PHASES, JobPhase, RunPhase, RunState


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


def plan_run(run_status: Mapping[str, Any] | None, job: Mapping[str, Any] | None, job_name: str) -> RunPlan:
    """`run_status` and `job` are the raw status of the run and the raw TrainingJob (or None)."""
    status = run_status or {}
    if is_terminal(status.get("phase")):
        return RunPlan(RunAction.NOTHING, "Finished", f"run finished as {status.get('phase')}")
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

    @property
    def state(self) -> RunState | None:
        return RunState.of(self.lifecycle_state)

    @property
    def phase(self) -> RunPhase | None:
        state = self.state
        return None if state is None else state.phase


def active_run_ids(runs: Iterable[RunView]) -> list[str]:
    return [run.id for run in runs if run.state in ACTIVE_RUN_STATES]

"""TrainingJobRun: what to do next, and OCI job run state -> status. Pure: no I/O, no kopf."""

from __future__ import annotations

import dataclasses
import datetime
import enum
import re
from collections.abc import Iterable, Mapping
from typing import Any

from . import conditions as cond
from . import links
from .phases import ACTIVE_RUN_STATES, TERMINAL_RUN_PHASES, WARNING_RUN_PHASES, JobPhase, RunPhase, RunState

EXIT_CODE = re.compile(r"exit code (\d+)", re.IGNORECASE)


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


def exit_code(state: str, details: str | None) -> int | None:
    match = EXIT_CODE.search(details or "")
    if match:
        return int(match.group(1))
    return 0 if state == RunState.SUCCEEDED else None


def _rfc3339(value: datetime.datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=datetime.UTC)
    return value.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def describe(view: RunView) -> str:
    """Where the OCI run is now, in OCI's words: the message of its conditions and phase Events."""
    if view.state is RunState.DELETED:
        return f"OCI job run {view.id} was deleted outside Kubernetes"
    message = f"OCI job run {view.id} is {view.lifecycle_state}"
    return f"{message}: {view.lifecycle_details}" if view.lifecycle_details else message


def run_conditions(phase: RunPhase, message: str, unknown_state: str | None = None) -> list[cond.Cond]:
    if unknown_state:
        return cond.health_conditions(
            cond.Health.PROGRESSING,
            "UnknownLifecycleState",
            f"OCI reported a lifecycle state this operator does not know ({unknown_state}); still watching",
        )
    if phase is RunPhase.SUCCEEDED:
        return [
            *cond.health_conditions(cond.Health.READY, "Succeeded", message),
            cond.Cond(cond.SUCCEEDED, True, "Succeeded", message),
            cond.Cond(cond.FAILED, False, "Succeeded", message),
        ]
    if phase in TERMINAL_RUN_PHASES:
        reason = "DeletedInOCI" if phase is RunPhase.DELETED else phase.value
        return [
            *cond.health_conditions(cond.Health.STALLED, reason, message),
            cond.Cond(cond.SUCCEEDED, False, reason, message),
            cond.Cond(cond.FAILED, True, reason, message),
        ]
    if phase is RunPhase.NEEDS_ATTENTION:
        return cond.health_conditions(cond.Health.STALLED, "NeedsAttention", message)
    # Pending, Accepted, InProgress, Canceling: the phase itself is the reason.
    return cond.health_conditions(cond.Health.PROGRESSING, phase.value, message)


def run_status(
    view: RunView,
    region: str,
    previous: Mapping[str, Any] | None,
    generation: int | None,
    now: str,
) -> dict[str, Any]:
    """The status fields for a run as OCI reports it (a merge patch: unknown fields are left out)."""
    before = previous or {}
    phase = view.phase
    unknown = None
    if phase is None:
        # UNKNOWN_ENUM_VALUE (a state newer than the SDK): keep the last known phase.
        unknown = view.lifecycle_state
        phase = RunPhase(before.get("phase") or RunPhase.ACCEPTED)
    status: dict[str, Any] = {
        "phase": phase.value,
        "jobRunId": view.id,
        "lifecycleDetails": view.lifecycle_details,
        "consoleUrl": links.job_run_console_url(view.id, region),
    }
    if view.job_id:
        status["jobId"] = view.job_id
    code = exit_code(view.lifecycle_state, view.lifecycle_details)
    if code is not None:
        status["exitCode"] = code
    for key, value in (
        ("timeAccepted", view.time_accepted),
        ("timeStarted", view.time_started),
        ("timeFinished", view.time_finished),
    ):
        if value is not None:
            status[key] = _rfc3339(value)
    shown_for = shown_duration_seconds(view)
    if shown_for is not None:
        status["duration"] = human_duration(shown_for)
    if view.log_group_id:
        logs: dict[str, Any] = {"logGroupId": view.log_group_id}
        if view.log_id:
            logs["logId"] = view.log_id
            if view.compartment_id:
                logs["url"] = links.log_search_url(
                    view.compartment_id, view.log_group_id, view.log_id, view.id, region
                )
        else:
            logs["url"] = links.log_group_url(view.log_group_id, region)
        status["logs"] = logs
    if generation is not None:
        status["observedGeneration"] = generation
    status["conditions"] = cond.merge_conditions(
        before.get("conditions"), run_conditions(phase, describe(view), unknown), generation, now
    )
    return status


def pending_status(
    plan: RunPlan, previous: Mapping[str, Any] | None, generation: int | None, now: str
) -> dict[str, Any]:
    return {
        "phase": RunPhase.PENDING.value,
        "message": plan.message,
        "observedGeneration": generation,
        "conditions": cond.with_health(
            previous, cond.Health.PROGRESSING, plan.reason, plan.message, generation, now
        ),
    }


def duration_seconds(view: RunView) -> float | None:
    if view.time_started and view.time_finished:
        return max(0.0, (view.time_finished - view.time_started).total_seconds())
    return None


def shown_duration_seconds(view: RunView) -> int | None:
    """FINISHED minus STARTED as status shows them (whole seconds), so DURATION never disagrees
    with the two columns beside it: 10:00:00.9 to 10:00:01.2 reads 1s, not a rounded 0s."""
    if view.time_started and view.time_finished:
        started, finished = (_whole_seconds(t) for t in (view.time_started, view.time_finished))
        return max(0, int((finished - started).total_seconds()))
    return None


def _whole_seconds(value: datetime.datetime) -> datetime.datetime:
    return value.replace(microsecond=0, tzinfo=value.tzinfo or datetime.UTC)


def human_duration(seconds: float) -> str:
    """kubectl-style: 45s, 4m12s, 2h5m (seconds dropped past an hour, as nobody reads them there)."""
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"


def phase_event(old_phase: str | None, view: RunView) -> tuple[str, str, str] | None:
    """(type, reason, message) of the Event for a phase change, or None when the phase is unchanged."""
    new_phase = view.phase
    if new_phase is None or new_phase == old_phase:
        return None
    kind = "Warning" if new_phase in WARNING_RUN_PHASES else "Normal"
    return kind, new_phase.value, describe(view)


def active_run_ids(runs: Iterable[RunView]) -> list[str]:
    return [run.id for run in runs if run.state in ACTIVE_RUN_STATES]

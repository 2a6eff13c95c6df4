"""engine OCI: which runs an OCI Schedule made become TrainingJobRuns, which are canceled
(concurrencyPolicy best effort), and whether a TrainingJobRun may follow an existing OCI run. Pure.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Collection, Mapping, Sequence

from .model import TAG_NAMESPACE
from .phases import ACTIVE_RUN_STATES, RunState
from .run_plan import RunView
from .schedule_plan import run_name

# On a TrainingJobRun: "follow this OCI run, never create one".
JOB_RUN_ID_ANNOTATION = "ocids.io/job-run-id"
# On the runs an OCI Schedule makes (its CreateJobRun action's freeform tags).
TAG_SCHEDULE_UID = "ocids.io/schedule-uid"
TAG_SCHEDULE = "ocids.io/schedule"
# Put on a run Forbid canceled: it is never adopted, and deleted once ended (deletionPolicy Delete).
TAG_SKIPPED = "ocids.io/skipped"
# Time zones OCI's CRON trigger can be read in: it has none, it is UTC.
UTC_ZONES = frozenset({"UTC", "Etc/UTC", "Etc/UCT", "UCT", "Etc/Universal", "Universal", "Zulu", "Etc/Zulu"})


@dataclasses.dataclass(frozen=True)
class AdoptionStep:
    adopt: list[RunView]  # new runs of the schedule, oldest first: each becomes a TrainingJobRun
    cancel: list[tuple[RunView, str]]  # (run, why) to cancel in OCI now
    skipped: list[RunView]  # new runs canceled because another was unfinished (Forbid)
    watermark: datetime.datetime | None  # the latest run time adopted so far (status.lastScheduleTime)


def schedule_runs_of(runs: Sequence[RunView], schedule_uid: str, schedule_id: str) -> list[RunView]:
    """The runs this schedule's OCI Schedule made, oldest first (DELETED ones left out): its tag AND
    OCI's createdBy = that Schedule. Tags are anyone's to copy; createdBy is not, so a run someone
    else made with the tags is never adopted, canceled nor deleted."""
    mine = [
        run
        for run in runs
        if run.tags.get(TAG_SCHEDULE_UID) == schedule_uid
        and run.created_by == schedule_id
        and run.state is not RunState.DELETED
        and run.time_accepted is not None
    ]
    return sorted(mine, key=lambda run: (run.time_accepted, run.id))


def plan_adoption(
    runs: Sequence[RunView],
    schedule_name: str,
    existing: Collection[str],
    watermark: datetime.datetime | None,
    concurrency: str,
) -> AdoptionStep:
    """`runs`: this schedule's OCI runs (schedule_runs_of); `existing`: its TrainingJobRuns' names;
    `watermark`: status.lastScheduleTime. A run at or before the watermark was seen before: its
    TrainingJobRun, if gone, was pruned or deleted on purpose and is never made again."""
    new = [
        run
        for run in runs
        if run.time_accepted is not None
        and (watermark is None or run.time_accepted > watermark)
        and run_name(schedule_name, run.time_accepted) not in existing
        and run.tags.get(TAG_SKIPPED) is None
    ]
    cancel: list[tuple[RunView, str]] = []
    skipped: list[RunView] = []
    canceled: set[str] = set()
    for run in new:
        older = [
            other
            for other in runs
            if other.id != run.id
            and other.id not in canceled
            and other.state in ACTIVE_RUN_STATES
            and other.state is not RunState.CANCELING
            and (other.time_accepted, other.id) < (run.time_accepted, run.id)
        ]
        if not older or run.state not in ACTIVE_RUN_STATES:
            continue
        if concurrency == "Forbid":
            # Never a TrainingJobRun: a skipped time is counted (status.skippedSchedules), not kept
            # as failed history.
            names = ", ".join(other.id for other in older)
            cancel.append((run, f"{names} unfinished (concurrencyPolicy Forbid)"))
            canceled.add(run.id)
            skipped.append(run)
        elif concurrency == "Replace":
            for other in older:
                cancel.append((other, f"replaced by {run.id} (concurrencyPolicy Replace)"))
                canceled.add(other.id)
    times = [run.time_accepted for run in new if run.time_accepted is not None]
    latest = max([*times, *([watermark] if watermark else [])], default=None)
    adopt = [run for run in new if run.id not in {s.id for s in skipped}]
    return AdoptionStep(adopt, cancel, skipped, latest)


def skipped_to_delete(runs: Sequence[RunView]) -> list[RunView]:
    """Runs Forbid skipped (tagged when canceled) that have ended: with the template's deletionPolicy
    Delete they go, as a TrainingJobRun's run would."""
    return [run for run in runs if run.tags.get(TAG_SKIPPED) and run.state not in ACTIVE_RUN_STATES]


def adoption_refusal(
    run: RunView | None,
    run_id: str,
    *,
    name: str,
    namespace: str,
    compartment_id: str,
    job_ids: Collection[str],
    schedules: Mapping[str, tuple[str, str | None]],
) -> str | None:
    """Why a TrainingJobRun may not follow OCI run `run_id` (annotation ocids.io/job-run-id), or None.

    `schedules`: uid -> (name, status.scheduleId) of the TrainingJobSchedules of the run's namespace.
    The run must be in its TrainingJob's compartment, of its current or a retired job, made (OCI's
    createdBy, which no one can forge, unlike tags) by the OCI Schedule of one of those schedules for
    this namespace, and this TrainingJobRun must be the one that schedule makes for it (one object
    per OCI run): nothing else is followed, so nothing else is ever canceled or deleted."""
    where = f"OCI job run {run_id} (annotation {JOB_RUN_ID_ANNOTATION})"
    if run is None:
        return f"{where} was not found, or may not be read with this namespace's OCI identity"
    if run.compartment_id != compartment_id:
        return f"{where} is in compartment {run.compartment_id}, not the TrainingJob's {compartment_id}"
    if run.job_id not in job_ids:
        return f"{where} is a run of OCI job {run.job_id}, not of this TrainingJob's jobs"
    if run.tags.get(TAG_NAMESPACE) != namespace:
        return f"{where} was not made for namespace {namespace} (its tag {TAG_NAMESPACE} says otherwise)"
    uid = run.tags.get(TAG_SCHEDULE_UID)
    found = schedules.get(uid or "")
    if found is None:
        return f"{where} was not made by a TrainingJobSchedule of namespace {namespace} ({TAG_SCHEDULE_UID})"
    schedule, schedule_id = found
    if not schedule_id or run.created_by != schedule_id:
        return (
            f"{where} was made by {run.created_by}, not by TrainingJobSchedule {schedule}'s OCI Schedule "
            f"{schedule_id} (its tags claim so, OCI's createdBy does not)"
        )
    if run.time_accepted is None or run_name(schedule, run.time_accepted) != name:
        return f"{where} belongs to TrainingJobSchedule {schedule}'s run of that time, not to {name}"
    return None


# Words OCI's lastScheduleRunDetails uses when a firing made no run (its wording is not documented:
# the emulator's "The job run could not be created: <code>: <message>"; matched loosely).
_FAILURE_WORDS = ("could not", "fail", "error", "denied", "not authorized", "unable")


def firing_failed(details: str | None) -> bool:
    """Whether OCI's lastScheduleRunDetails reports a firing that made no run."""
    text = (details or "").lower()
    return any(word in text for word in _FAILURE_WORDS)

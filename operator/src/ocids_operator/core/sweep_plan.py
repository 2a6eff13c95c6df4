"""What a sweep does next, from its spec and its trials as they are now: which trials to create,
which to cancel, and its status. Pure; workflows/sweep.py does the I/O.

What trials are doing is read from them each time; what they did is kept in the sweep's status
(`outcomes`, one record per finished trial), since a finished trial may be deleted (its TTL, a
user) and the sweep's counts, phase, leaderboard and median rule must not change then. Indices are
reserved in status.trials before a trial is created, so none is ever used twice; status.creating
keeps the reserved ones until they are known to exist, so a crash in between loses none.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from ..api import TrainingJobSweepSpec, TrainingJobSweepStatus, TrialResult
from ..api.sweep import MAX_LEADERBOARD, TrialOutcome, TrialOutcomePhase
from . import conditions as cond
from .phases import RunPhase
from .status_patch import StatusPatch
from .sweep_stopping import StopDecision, median_stops, start_mean, worse
from .sweep_trials import CANCELED_BY_SWEEP_ANNOTATION, EARLY_STOPPED_ANNOTATION, Trial


class SweepPhase(enum.StrEnum):
    """`status.phase` of a TrainingJobSweep (the API's SweepPhase)."""

    PENDING = "Pending"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"


FINAL_SWEEP_PHASES = frozenset({SweepPhase.SUCCEEDED, SweepPhase.FAILED})


class SweepReason(enum.StrEnum):
    WAITING_FOR_JOB = "WaitingForJob"
    TRIALS_RUNNING = "TrialsRunning"
    COMPLETED = "Completed"
    TARGET_REACHED = "TargetReached"
    TOO_MANY_FAILURES = "TooManyFailures"
    NO_TRIAL_SUCCEEDED = "NoTrialSucceeded"
    TRIAL_CREATED = "TrialCreated"
    TRIAL_EARLY_STOPPED = "TrialEarlyStopped"
    TRIAL_TAKEN = "TrialNameTaken"
    JOB_NOT_FOUND = "TrainingJobNotFound"
    ARG_NEEDS_COMMAND = "ArgNeedsCommand"
    SEARCH_SPACE_TOO_LARGE = "SearchSpaceTooLarge"
    UNKNOWN_OBJECTIVE_METRIC = "UnknownObjectiveMetric"


@dataclasses.dataclass(frozen=True)
class Cancel:
    trial: Trial
    annotations: dict[str, str]


@dataclasses.dataclass(frozen=True)
class Counts:
    active: int
    succeeded: int
    failed: int
    canceled: int
    early_stopped: int


@dataclasses.dataclass(frozen=True)
class SweepPlan:
    create: list[int]
    cancel: list[Cancel]
    stops: list[StopDecision]
    phase: SweepPhase
    reason: SweepReason
    message: str
    counts: Counts
    leaderboard: list[TrialResult]
    next_index: int
    outcomes: list[TrialOutcome]


def outcome_of(trial: Trial, start_step: int | None) -> TrialOutcome:
    """A finished trial's record in the sweep's status."""
    phase: TrialOutcomePhase
    if trial.succeeded:
        phase = "Succeeded"
    elif trial.canceled:
        phase = "EarlyStopped" if trial.early_stopped else "Canceled"
    else:
        phase = "Failed"
    mean = start_mean(trial.first, start_step) if start_step and trial.succeeded else None
    return _outcome(trial.index, phase, trial.objective, mean)


def _outcome(
    index: int, phase: TrialOutcomePhase, metric: float | None = None, mean: float | None = None
) -> TrialOutcome:
    """Without the fields it has no value for: a null in status is pruned by the API server, and the
    record must read back as it was written (or every pass would see a change to write)."""
    fields: dict[str, Any] = {"index": index, "phase": phase}
    if metric is not None:
        fields["metric"] = metric
    if mean is not None:
        fields["start_mean"] = mean
    return TrialOutcome(**fields)


def archived_outcome(index: int, record: Mapping[str, Any] | None, metric: str | None) -> TrialOutcome:
    """A trial that vanished before the sweep saw it finish: its archive record (a TTL or history
    limit archives a run before deleting it) says how it ended; none: Gone. The record has no
    curve, so the trial is not in the median rule's pool."""
    phase = (record or {}).get("phase")
    if phase == RunPhase.SUCCEEDED:
        value = ((record or {}).get("metrics") or {}).get(metric) if metric else None
        return _outcome(index, "Succeeded", None if value is None else float(value))
    if phase in (RunPhase.FAILED, RunPhase.DELETED):
        return _outcome(index, "Failed")
    if phase == RunPhase.CANCELED:
        return _outcome(index, "Canceled")
    return _outcome(index, "Gone")


def record_outcomes(
    trials: Sequence[Trial],
    previous: Mapping[str, Any],
    gone: Iterable[TrialOutcome],
    start_step: int | None,
) -> dict[int, TrialOutcome]:
    """Every finished trial's outcome, by index: those recorded before (a trial deleted since keeps
    its record), the trials finished since, and `gone`: trials that vanished meanwhile."""
    outcomes = {int(o["index"]): TrialOutcome.model_validate(o) for o in previous.get("outcomes") or []}
    for trial in trials:
        # Recorded once its metrics are final: Logging ingests the last lines a little after the
        # run ends, and a record is never revised.
        if trial.settled and trial.index not in outcomes:
            outcomes[trial.index] = outcome_of(trial, start_step)
    for outcome in gone:
        outcomes.setdefault(outcome.index, outcome)
    return dict(sorted(outcomes.items()))


def count(trials: Sequence[Trial], outcomes: Mapping[int, TrialOutcome]) -> Counts:
    phases = [o.phase for o in outcomes.values()]
    return Counts(
        # A finished trial whose metrics are still being read holds its place until recorded.
        active=sum(t.index not in outcomes for t in trials),
        succeeded=phases.count("Succeeded"),
        failed=phases.count("Failed"),
        canceled=phases.count("Canceled") + phases.count("Gone"),
        early_stopped=phases.count("EarlyStopped"),
    )


def leaderboard(
    outcomes: Mapping[int, TrialOutcome],
    previous: Sequence[Mapping[str, Any]],
    goal: str,
    name_of: Callable[[int], str],
    parameters: Sequence[Mapping[str, str]],
) -> list[TrialResult]:
    """Succeeded trials by objective, best first (from the outcomes, so a deleted trial keeps its
    place; entries written before outcomes existed are kept too)."""
    entries = {
        name_of(o.index): TrialResult(
            run=name_of(o.index),
            parameters=dict(parameters[o.index]) if o.index < len(parameters) else {},
            metric=o.metric,
        )
        for o in outcomes.values()
        if o.phase == "Succeeded" and o.metric is not None
    }
    for old in previous:
        if old.get("run") not in entries and old.get("metric") is not None:
            entries[str(old["run"])] = TrialResult.model_validate(old)
    sign = -1.0 if goal == "maximize" else 1.0
    ranked = sorted(entries.values(), key=lambda e: (sign * (e.metric or 0.0), e.run))
    return ranked[:MAX_LEADERBOARD]


def target_reached(spec: TrainingJobSweepSpec, best: TrialResult | None) -> bool:
    objective = spec.objective
    if objective is None or objective.target is None or best is None or best.metric is None:
        return False
    return best.metric == objective.target or not worse(best.metric, objective.target, objective.goal)


def next_index_of(trials: Sequence[Trial], previous: Mapping[str, Any]) -> int:
    """The first index never used: status.trials is written before a trial is created, so an index
    is never used twice, even for a trial deleted since."""
    recorded = [int(o["index"]) + 1 for o in previous.get("outcomes") or []]
    return max([int(previous.get("trials") or 0), *recorded, *(t.index + 1 for t in trials)])


def plan_sweep(
    spec: TrainingJobSweepSpec,
    parameters: Sequence[Mapping[str, str]],
    trials: Sequence[Trial],
    previous: Mapping[str, Any],
    *,
    name_of: Callable[[int], str],
    gone: Iterable[TrialOutcome] = (),
    unseen: int = 0,
    uncreated: Sequence[int] = (),
) -> SweepPlan:
    """`parameters`: every trial's, in index order; `previous`: the sweep's status as last written;
    `gone`: the outcomes of trials that no longer exist and had none (see `archived_outcome`);
    `unseen`: trials that exist but are not in `trials` yet (counted as active); `uncreated`:
    indices an earlier pass reserved whose trials were never made (it was stopped in between):
    created first while the sweep runs, ahead of new ones and within parallelism."""
    total = len(parameters)
    start_step = spec.early_stopping.start_step if spec.early_stopping else None
    outcomes = record_outcomes(trials, previous, gone, start_step)
    counts = count(trials, outcomes)
    counts = dataclasses.replace(counts, active=counts.active + unseen)
    next_index = next_index_of(trials, previous)
    goal = spec.objective.goal if spec.objective else "maximize"
    board = leaderboard(outcomes, previous.get("leaderboard") or [], goal, name_of, parameters)
    best = board[0] if board else None
    metric = spec.objective.metric if spec.objective else ""
    stopping: SweepReason | None = None
    if previous.get("phase") == SweepPhase.SUCCEEDED and not counts.active:
        # Final: nothing a trial does later (a TTL, a user deleting it) makes it another result.
        phase, reason = SweepPhase.SUCCEEDED, _reason(previous, SweepReason.COMPLETED)
        message = str(previous.get("message") or "")
    elif counts.failed >= spec.max_failures:
        phase, reason = SweepPhase.FAILED, SweepReason.TOO_MANY_FAILURES
        message = f"{counts.failed} trials failed (spec.maxFailures is {spec.max_failures}): no new trials"
        stopping = reason
    elif target_reached(spec, best):
        assert best is not None and spec.objective is not None
        phase, reason = SweepPhase.SUCCEEDED, SweepReason.TARGET_REACHED
        message = (
            f"trial {best.run} reached the target: {metric} {best.metric:g} "
            f"(spec.objective.target {spec.objective.target:g}): no new trials"
        )
        stopping = reason
    elif next_index >= total and counts.active == 0 and not uncreated:
        if counts.succeeded:
            phase, reason = SweepPhase.SUCCEEDED, SweepReason.COMPLETED
            message = f"all {total} trials finished"
            if best is not None:
                message += f"; best {best.run} with {metric} {best.metric:g}"
        else:
            phase, reason = SweepPhase.FAILED, SweepReason.NO_TRIAL_SUCCEEDED
            message = f"all {total} trials finished and none succeeded"
    else:
        phase, reason = SweepPhase.RUNNING, SweepReason.TRIALS_RUNNING
        message = f"{len(outcomes)} of {total} trials finished, {counts.active} running"

    cancel: list[Cancel] = []
    stops: list[StopDecision] = []
    create: list[int] = []
    unfinished = [t for t in trials if not t.finished and t.index not in outcomes]
    if stopping is not None:
        why = {CANCELED_BY_SWEEP_ANNOTATION: message}
        cancel = [Cancel(t, why) for t in unfinished if not t.cancel_requested]
        if counts.active:
            message += f"; {counts.active} unfinished trials are being canceled"
    elif phase is SweepPhase.RUNNING:
        stops = early_stops(spec, unfinished, outcomes)
        cancel = [
            Cancel(t, {EARLY_STOPPED_ANNOTATION: stop.message(metric)})
            for stop in stops
            for t in unfinished
            if t.name == stop.trial
        ]
        free = spec.parallelism - counts.active - len(uncreated)
        create = [*uncreated, *range(next_index, min(total, next_index + max(free, 0)))]
    return SweepPlan(
        create, cancel, stops, phase, reason, message, counts, board, next_index, list(outcomes.values())
    )


def _reason(previous: Mapping[str, Any], default: SweepReason) -> SweepReason:
    ready: Mapping[str, Any] = next(
        (c for c in previous.get("conditions") or [] if c.get("type") == "Ready"), {}
    )
    try:
        return SweepReason(str(ready.get("reason")))
    except ValueError:
        return default


def early_stops(
    spec: TrainingJobSweepSpec, unfinished: Sequence[Trial], outcomes: Mapping[int, TrialOutcome]
) -> list[StopDecision]:
    rule, objective = spec.early_stopping, spec.objective
    if rule is None or objective is None:
        return []
    # A trial waiting for a retry shows its failed attempt's curve: it is not judged by it.
    running = {
        t.name: (t.steps, t.first) for t in unfinished if not t.cancel_requested and not t.retry_pending
    }
    completed = [
        o.start_mean for o in outcomes.values() if o.phase == "Succeeded" and o.start_mean is not None
    ]
    return median_stops(
        running, completed, goal=objective.goal, min_trials=rule.min_trials, start_step=rule.start_step
    )


def sweep_status(
    plan: SweepPlan,
    *,
    total: int,
    seed: int | None,
    created: int,
    previous: Mapping[str, Any],
    generation: int | None,
    now: str,
) -> StatusPatch[TrainingJobSweepStatus]:
    """Status after this pass; `created`: trials created in it (they are active)."""
    counts = plan.counts
    active = counts.active + created
    message = plan.message
    if plan.phase in FINAL_SWEEP_PHASES and active == 0:
        health = cond.Health.READY if plan.phase is SweepPhase.SUCCEEDED else cond.Health.STALLED
    elif plan.reason is SweepReason.JOB_NOT_FOUND and active == 0:
        health = cond.Health.STALLED  # nothing moves until the TrainingJob exists again
    else:
        health = cond.Health.PROGRESSING
    if created and plan.phase is SweepPhase.RUNNING:
        message = f"{plan.message}; created {created}"
    fields: dict[str, Any] = {
        "phase": plan.phase.value,
        "total_trials": total,
        "trials": plan.next_index + created,
        "active": active,
        "succeeded": counts.succeeded,
        "failed": counts.failed,
        "canceled": counts.canceled,
        "early_stopped": counts.early_stopped,
        "outcomes": plan.outcomes,
        "leaderboard": plan.leaderboard,
        "best": plan.leaderboard[0] if plan.leaderboard else None,
        "observed_generation": generation,
        "message": message,
        "conditions": cond.with_health(previous, health, plan.reason.value, message, generation, now),
    }
    if seed is not None:
        fields["seed"] = seed
    return StatusPatch(TrainingJobSweepStatus(**fields))


def waiting_status(
    reason: SweepReason,
    message: str,
    previous: Mapping[str, Any],
    generation: int | None,
    now: str,
    *,
    stalled: bool = False,
    phase: SweepPhase = SweepPhase.PENDING,
) -> StatusPatch[TrainingJobSweepStatus]:
    """Before any trial: waiting for the TrainingJob (Reconciling), or refused (Stalled)."""
    health = cond.Health.STALLED if stalled else cond.Health.PROGRESSING
    return StatusPatch(
        TrainingJobSweepStatus(
            phase=phase.value if not previous.get("trials") else previous.get("phase"),
            observed_generation=generation,
            message=message,
            conditions=cond.with_health(previous, health, reason.value, message, generation, now),  # type: ignore[arg-type]
        )
    )

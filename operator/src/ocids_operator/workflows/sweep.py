"""TrainingJobSweep reconcile and finalize: the I/O around the pure plan in `core/sweep_plan`.

A sweep touches no OCI resource itself: its trials are TrainingJobRuns, whose own handlers create,
cancel and delete OCI runs. It reads them, creates the next ones, and cancels (spec.cancel) the
ones to stop; never deletes one while it lives (a trial's record is its result).
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from ..api import TrainingJobSweepSpec, TrainingJobSweepStatus
from ..api.sweep import TrialOutcome
from ..core import conditions as cond
from ..core.archive import archive_config_map_name, decode, record_key
from ..core.phases import run_finished
from ..core.status_patch import StatusPatch
from ..core.sweep_plan import (
    FINAL_SWEEP_PHASES,
    SweepPhase,
    SweepPlan,
    SweepReason,
    archived_outcome,
    plan_sweep,
    sweep_status,
    waiting_status,
)
from ..core.sweep_space import SearchSpaceTooLarge, trial_parameters
from ..core.sweep_trials import (
    CANCELED_BY_SWEEP_ANNOTATION,
    Trial,
    arg_problem,
    label_value,
    owned_by,
    trial_body,
    trial_name,
    trial_of,
    trials_selector,
)
from ..core.times import parse_time
from ..runtime import Runtime
from .crash_point import crash_after
from .inputs import parse_spec
from .outcome import Outcome, ProgressMade

# How often a sweep being deleted looks again for trials still finishing their own deletion.
DELETION_RECHECK_SECONDS = 3.0
# Vanished trials looked up (GET) per pass: a sweep whose many trials were deleted catches up slowly.
MAX_GONE_CHECKS = 20


def chosen_seed(spec: TrainingJobSweepSpec, status: Mapping[str, Any], uid: str) -> int | None:
    """The random strategy's seed: the spec's, else one derived from the object (so it never changes
    between passes, even before status.seed is written)."""
    if spec.strategy != "random":
        return None
    if spec.seed is not None:
        return spec.seed
    if status.get("seed") is not None:
        return int(status["seed"])
    return int(hashlib.sha256(uid.encode()).hexdigest()[:8], 16) & 0x7FFFFFFF


def objective_problem(spec: TrainingJobSweepSpec, job: Mapping[str, Any]) -> str | None:
    """The objective names a metric the trials will not read (the TrainingJob's metrics apply)."""
    if spec.objective is None or spec.metrics is not None:
        return None
    names = [m.get("name") for m in (job.get("spec") or {}).get("metrics") or []]
    if spec.objective.metric in names:
        return None
    known = ", ".join(str(n) for n in names) or "none"
    return (
        f"spec.objective.metric {spec.objective.metric!r} is not a metric of TrainingJob "
        f"{spec.job_ref.name} (its spec.metrics: {known}): set spec.metrics on the sweep or name one of them"
    )


async def list_trials(rt: Runtime, body: Mapping[str, Any]) -> list[dict[str, Any]]:
    meta = body["metadata"]
    listed = await rt.kube.list_labeled_training_job_runs(meta["namespace"], trials_selector(meta["name"]))
    return [run for run in listed if owned_by(run, meta["uid"])]


async def reconcile(
    rt: Runtime, body: Mapping[str, Any], listed: Sequence[Mapping[str, Any]] | None = None
) -> Outcome:
    """`listed`: the sweep's trials from the watch-fed index (the timer's); None: LIST them."""
    meta, status = body["metadata"], dict(body.get("status") or {})
    namespace, generation, now = meta["namespace"], meta.get("generation"), cond.now_rfc3339()
    # What the API server admits but the model refuses (a regex without a group): Stalled naming it.
    spec: TrainingJobSweepSpec = parse_spec(TrainingJobSweepSpec, body["spec"])
    seed = chosen_seed(spec, status, meta["uid"])
    try:
        parameters = trial_parameters(spec, seed or 0)
    except SearchSpaceTooLarge as exc:
        refused = waiting_status(
            SweepReason.SEARCH_SPACE_TOO_LARGE,
            str(exc),
            status,
            generation,
            now,
            stalled=True,
            phase=SweepPhase.FAILED,
        )
        return _unless_unchanged(refused, status)
    metric = spec.objective.metric if spec.objective else None
    runs = await list_trials(rt, body) if listed is None else [r for r in listed if owned_by(r, meta["uid"])]
    trials = [t for run in runs if (t := trial_of(run, metric)) is not None]
    creating = [int(i) for i in status.get("creating") or []]
    missing, unseen = await _missing(rt, body, trials, creating, lagging=listed is not None)
    pending, made_unseen = await _pending(rt, body, trials, creating, lagging=listed is not None)
    # A reserved index not found may have been made and expired since (a TTL archives first).
    looked = {o.index: o for o in await _archived(rt, body, spec, missing + pending, metric)}
    gone = [o for index, o in looked.items() if index in missing or o.phase != "Gone"]
    uncreated = [index for index in pending if looked[index].phase == "Gone"]
    plan = plan_sweep(
        spec,
        parameters,
        trials,
        status,
        name_of=lambda index: trial_name(meta["name"], index),
        gone=gone,
        unseen=unseen + made_unseen,
        uncreated=uncreated,
    )
    job: Mapping[str, Any] | None = None
    if plan.create:
        job = await rt.kube.get_training_job(namespace, spec.job_ref.name)
        if job is None:
            message = (
                f"TrainingJob {namespace}/{spec.job_ref.name} (spec.jobRef.name) does not exist: "
                "no new trials until it does"
            )
            if not trials and not plan.outcomes:
                return _unless_unchanged(
                    waiting_status(SweepReason.JOB_NOT_FOUND, message, status, generation, now, stalled=True),
                    status,
                )
            plan = dataclasses.replace(
                plan, create=[], reason=SweepReason.JOB_NOT_FOUND, message=f"{plan.message}; {message}"
            )
        elif (problem := objective_problem(spec, job)) is not None:
            stalled = waiting_status(
                SweepReason.UNKNOWN_OBJECTIVE_METRIC, problem, status, generation, now, stalled=True
            )
            return _unless_unchanged(stalled, status)
        elif (problem := arg_problem(spec, job.get("spec") or {})) is not None:
            reason = SweepReason.ARG_NEEDS_COMMAND
            stalled = waiting_status(reason, problem, status, generation, now, stalled=True)
            return _unless_unchanged(stalled, status)

    events: list[tuple[str, str, str]] = []
    for cancel in plan.cancel:
        canceled = await rt.kube.cancel_training_job_run(
            namespace, cancel.trial.name, cancel.trial.uid, cancel.annotations
        )
        stop = next((s for s in plan.stops if s.trial == cancel.trial.name), None)
        if canceled and stop is not None:
            events.append(("Normal", SweepReason.TRIAL_EARLY_STOPPED.value, stop.message(metric or "")))
    created, reserved = 0, plan.next_index
    if plan.create:
        reserved = max(plan.next_index, plan.create[-1] + 1)
    elif uncreated:
        reserved = min(uncreated)  # not made, and not to be made now (the sweep stops): given back
    # The indices are recorded before the trials exist: a trial created and then deleted (its TTL,
    # a user) before the status below is written is never created again; and kept in
    # status.creating until that status write, so a crash in between loses none (the next pass
    # makes those that do not exist).
    new = any(index >= plan.next_index for index in plan.create)
    if new and not await rt.kube.reserve_sweep_trials(
        namespace, meta["name"], meta["uid"], reserved, list(plan.create)
    ):
        return Outcome()  # the sweep is gone
    for index in plan.create:
        assert job is not None
        run = trial_body(body, spec, index, parameters[index], job.get("spec") or {})
        try:
            made = await rt.kube.create_training_job_run(namespace, run)
        except Exception as exc:
            # Not created: this index and the later ones are given back (status.trials below).
            partial = _status(plan, len(parameters), seed, created, index, status, generation, now)
            raise ProgressMade(exc, partial, events) from exc
        crash_after(rt.settings, "create_trial")
        if made is None and not await _ours(rt, body, index):
            message = (
                f"TrainingJobRun {trial_name(meta['name'], index)} exists and is not a trial of this sweep: "
                "delete it (or re-create the sweep under another name)"
            )
            stalled = waiting_status(SweepReason.TRIAL_TAKEN, message, status, generation, now, stalled=True)
            # The trials created in this pass stay recorded; the taken index is given back.
            return Outcome(status=stalled.with_fields(trials=index, creating=None), events=events)
        created += 1
        if made is not None:
            values = ", ".join(f"{k}={v}" for k, v in parameters[index].items())
            events.append(
                (
                    "Normal",
                    SweepReason.TRIAL_CREATED.value,
                    f"created trial {run['metadata']['name']}: {values}",
                )
            )
    written = _status(plan, len(parameters), seed, created, reserved, status, generation, now)
    outcome = _unless_unchanged(written, status)
    outcome.events = events
    return outcome


def _status(
    plan: SweepPlan,
    total: int,
    seed: int | None,
    created: int,
    reserved: int,
    previous: Mapping[str, Any],
    generation: int | None,
    now: str,
) -> StatusPatch[TrainingJobSweepStatus]:
    written = sweep_status(
        plan, total=total, seed=seed, created=created, previous=previous, generation=generation, now=now
    )
    # Every index of status.creating is now made or given back.
    return written.with_fields(trials=reserved, creating=None)


def _unless_unchanged(written: StatusPatch[Any], previous: Mapping[str, Any]) -> Outcome:
    """No status write when nothing changed: a sweep looks at its trials every few seconds."""
    if all(previous.get(key) == value for key, value in written.items()):
        return Outcome()
    return Outcome(status=written)


async def _archived(
    rt: Runtime, body: Mapping[str, Any], spec: TrainingJobSweepSpec, missing: list[int], metric: str | None
) -> list[TrialOutcome]:
    """How vanished trials ended, from their TrainingJob's run archive (one read)."""
    if not missing:
        return []
    meta = body["metadata"]
    archive = await rt.kube.get_config_map(meta["namespace"], archive_config_map_name(spec.job_ref.name))
    data = (archive or {}).get("data") or {}
    created = parse_time(meta.get("creationTimestamp"))
    outcomes = []
    for index in missing:
        record = decode(data.get(record_key(trial_name(meta["name"], index)), "")) or None
        made = parse_time((record or {}).get("timeCreated"))
        ours = (
            record is not None
            and record.get("sweep") == label_value(meta["name"])
            and record.get("trial") == str(index)
            and (created is None or made is None or made >= created)  # not an earlier sweep's of that name
        )
        outcomes.append(archived_outcome(index, record if ours else None, metric))
    return outcomes


async def _missing(
    rt: Runtime, body: Mapping[str, Any], trials: list[Trial], creating: Sequence[int], *, lagging: bool
) -> tuple[list[int], int]:
    """Indices used whose trial has no outcome recorded and is not listed: those that no longer
    exist (deleted, or expired, before the sweep saw them finish), and how many others exist
    (created so recently the watch-fed index has not shown them yet: counted as active, so
    parallelism holds; a LIST has no such lag: not `lagging`). Checked one by one, a few per pass."""
    status = body.get("status") or {}
    known = {t.index for t in trials} | {int(o["index"]) for o in status.get("outcomes") or []}
    reserved = set(creating)  # (not known to exist yet: `_pending`'s)
    missing = [i for i in range(int(status.get("trials") or 0)) if i not in known and i not in reserved]
    if not lagging:
        return missing, 0
    gone, unseen = [], len(missing[MAX_GONE_CHECKS:])
    for index in missing[:MAX_GONE_CHECKS]:
        if await _ours(rt, body, index):
            unseen += 1
        else:
            gone.append(index)
    return gone, unseen


async def _pending(
    rt: Runtime, body: Mapping[str, Any], trials: list[Trial], creating: Sequence[int], *, lagging: bool
) -> tuple[list[int], int]:
    """Indices reserved by an earlier pass (status.creating) whose trials are not listed: those
    that may never have been made, and how many others exist but are not indexed yet (a LIST shows
    every one that exists: not `lagging`)."""
    status = body.get("status") or {}
    known = {t.index for t in trials} | {int(o["index"]) for o in status.get("outcomes") or []}
    pending, unseen = [], 0
    for index in creating:
        if index in known:
            continue
        if lagging and await _ours(rt, body, index):
            unseen += 1
        else:
            pending.append(index)
    return pending, unseen


async def _ours(rt: Runtime, body: Mapping[str, Any], index: int) -> bool:
    """A name taken at create: our trial made before a crash (fine), or another object (refused)."""
    meta = body["metadata"]
    existing = await rt.kube.get_training_job_run(meta["namespace"], trial_name(meta["name"], index))
    return existing is not None and owned_by(existing, meta["uid"])


def indexed_trials(index: Any, body: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The sweep's trials from the watch-fed index (handlers/sweep.py), a kopf.Index."""
    meta = body["metadata"]
    return list(index.get((meta["namespace"], label_value(meta["name"])), ()))


def waiting_for_job(body: Mapping[str, Any], for_seconds: float) -> bool:
    """Stalled on a missing TrainingJob for at least `for_seconds`: the timer looks less often."""
    stalled = next(
        (c for c in (body.get("status") or {}).get("conditions") or [] if c.get("type") == "Stalled"), None
    )
    if not stalled or stalled.get("status") != "True" or stalled.get("reason") != SweepReason.JOB_NOT_FOUND:
        return False
    since = parse_time(stalled.get("lastTransitionTime"))
    return since is not None and (datetime.datetime.now(datetime.UTC) - since).total_seconds() >= for_seconds


def watching(body: Mapping[str, Any]) -> bool:
    """Whether the sweep's timer still has work: trials to create, watch or see finish."""
    meta, status = body.get("metadata") or {}, body.get("status") or {}
    if meta.get("deletionTimestamp"):
        return False
    return status.get("phase") not in FINAL_SWEEP_PHASES or bool(status.get("active"))


async def finalize(rt: Runtime, body: Mapping[str, Any]) -> Outcome:
    """Cancel the sweep's unfinished trials (spec.cancel) and wait until they are finished, then
    delete them and wait until they are gone (each one's finalizer handles its OCI runs per its
    deletionPolicy; Kubernetes GC would keep them while their TrainingJob lives).

    Canceling first matters for deletionPolicy Retain: a Retain trial deleted while running leaves
    its OCI run running, with nothing left to follow it."""
    namespace = body["metadata"]["namespace"]
    remaining = await list_trials(rt, body)
    if not remaining:
        return Outcome()
    unfinished = [run for run in remaining if not run_finished(run.get("status") or {})]
    why = {CANCELED_BY_SWEEP_ANNOTATION: "the sweep is being deleted"}
    for run in unfinished:
        run_meta = run["metadata"]
        if not (run.get("spec") or {}).get("cancel") and not run_meta.get("deletionTimestamp"):
            await rt.kube.cancel_training_job_run(namespace, run_meta["name"], run_meta["uid"], why)
    names = sorted(r["metadata"]["name"] for r in (unfinished or remaining))
    if unfinished:
        message = f"canceling {len(unfinished)} unfinished trials before deleting them: "
        message += ", ".join(names[:10])
    else:
        for run in remaining:
            run_meta = run["metadata"]
            if not run_meta.get("deletionTimestamp"):
                await rt.kube.delete_training_job_run(namespace, run_meta["name"], run_meta["uid"])
        message = f"deleting {len(remaining)} trials: " + ", ".join(names[:10])
    status = dict(body.get("status") or {})
    conditions = cond.with_health(
        status,
        cond.Health.PROGRESSING,
        "DeletingTrials",
        message,
        status.get("observedGeneration"),
        cond.now_rfc3339(),
    )
    patch = StatusPatch(TrainingJobSweepStatus(message=message, conditions=conditions))  # type: ignore[arg-type]
    return Outcome(status=patch, requeue_after=DELETION_RECHECK_SECONDS, requeue_reason=message)

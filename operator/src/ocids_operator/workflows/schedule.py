"""TrainingJobSchedule (engine Operator): make the due run, cancel or skip per concurrencyPolicy,
count what was missed, keep the history limits; on deletion, delete the schedule's runs.

engine OCI is workflows/schedule_oci.py's (an OCI Data Science Schedule makes the runs).
"""

from __future__ import annotations

import dataclasses
import datetime
import importlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, MutableMapping, Sequence
from typing import Any

from ..api import API_VERSION, TrainingJobScheduleSpec, TrainingJobScheduleStatus
from ..core import conditions as cond
from ..core.cron import InvalidSchedule, parse
from ..core.errors import retry, stalled
from ..core.history import run_summary
from ..core.kinds import TRAINING_JOB_SCHEDULE_KIND
from ..core.phases import RunPhase, run_finished
from ..core.schedule_plan import (
    SCHEDULE_LABEL,
    SCHEDULED_TIME_LABEL,
    ScheduledRun,
    ScheduleState,
    bounded,
    plan,
    run_name,
    scheduled_time_label,
    stamp,
    time_of_run,
)
from ..core.schedule_status import schedule_events, schedule_status
from ..core.status_patch import StatusPatch
from ..core.times import parse_time
from ..runtime import Runtime
from . import run_history
from .crash_point import crash_after
from .inputs import parse_spec
from .outcome import Outcome

log = logging.getLogger(__name__)
KIND = TRAINING_JOB_SCHEDULE_KIND
ENGINE_OCI = "OCI"
# A deleted schedule waits this long between looks at its runs' own finalizers.
DELETION_RECHECK_SECONDS = 5.0
DUE_MARGIN_SECONDS = 0.05


# The status fields that say which times are handled (the plan's cursor) and what became of them.
CURSOR_FIELDS = (
    "lastScheduleTime",
    "lastMissedTime",
    "lastSkippedTime",
    "missedSchedules",
    "skippedSchedules",
)
# A schedule whose TrainingJob is missing looks for it again this often (a GET), not every tick.
JOB_RECHECK_SECONDS = 60.0
JOB_NOT_FOUND = "TrainingJobNotFound"
# Per schedule uid: when a schedule stalled on a missing TrainingJob looks again (monotonic).
_JOB_LOOKS: dict[str, float] = {}


# A run this process made is counted as the schedule's until the watch-fed index shows it (for at
# most this long: one deleted before the index saw it is then forgotten).
PENDING_SECONDS = 120.0


@dataclasses.dataclass
class Remembered:
    """What this process's steps of one schedule did that the object may not show yet: a step
    queued behind another (or after a status write kopf has not applied, or that was lost) would
    otherwise plan again from the older cursor, and a run just made may not be in the index yet."""

    cursor: dict[str, Any] = dataclasses.field(default_factory=dict)  # CURSOR_FIELDS as last written
    made: dict[str, tuple[str, float]] = dataclasses.field(default_factory=dict)  # name -> (uid, when)


Memory = MutableMapping[str, Remembered]


async def reconcile(
    rt: Runtime, body: Mapping[str, Any], index: Any = None, memory: Memory | None = None
) -> Outcome:
    """`index`: the watch-fed index of runs by schedule (handlers/schedule.py); None: LIST them.
    `memory`: what the earlier steps of this process handled (see Memory)."""
    # What the API server admits but the model refuses (a runTemplate metric regex without a group):
    # Stalled naming the field, before any run is made (each run would stall on it otherwise).
    parse_spec(TrainingJobScheduleSpec, body.get("spec") or {})
    if (body.get("spec") or {}).get("engine") == ENGINE_OCI:
        return await _oci_step("reconcile")(rt, body)
    meta, spec = body["metadata"], body.get("spec") or {}
    status = dict(body.get("status") or {})
    mine = memory.setdefault(meta["uid"], Remembered()) if memory is not None else Remembered()
    previous = remembered(status, mine.cursor)
    try:
        cron = parse(str(spec.get("schedule", "")), str(spec.get("timeZone") or "UTC"))
    except InvalidSchedule as exc:
        raise stalled("InvalidSchedule", str(exc)) from None
    runs = indexed_runs(index, meta) if index is not None else await schedule_runs(rt, meta)
    runs += not_yet_seen(mine, runs, time.monotonic())
    now = datetime.datetime.now(datetime.UTC)
    deadline = spec.get("startingDeadlineSeconds")
    state = ScheduleState(
        now=now,
        cron=cron,
        created=parse_time(meta.get("creationTimestamp")) or now,
        suspend=bool(spec.get("suspend")),
        starting_deadline_seconds=deadline,
        concurrency=str(spec.get("concurrencyPolicy") or "Allow"),
        last_schedule_time=parse_time(previous.get("lastScheduleTime")),
        last_missed_time=parse_time(previous.get("lastMissedTime")),
        last_skipped_time=parse_time(previous.get("lastSkippedTime")),
        runs=[scheduled_run(run, meta["name"]) for run in runs],
    )
    step = plan(state)
    if await _job_missing(rt, body, step.create_at is not None):
        return _job_not_found(body, status, previous, mine)
    _JOB_LOOKS.pop(meta["uid"], None)
    by_name = {run["metadata"]["name"]: run for run in runs}
    replaced = []
    for name in step.cancel:
        if await rt.kube.cancel_training_job_run(meta["namespace"], name, by_name[name]["metadata"]["uid"]):
            replaced.append(name)
    created, existed = None, False
    if step.create_at is not None:
        run = run_body(body, step.create_at)
        created = run["metadata"]["name"]
        made = await rt.kube.create_training_job_run(meta["namespace"], run)
        crash_after(rt.settings, "create_scheduled_run")
        existed = made is None
        if existed:
            made = await _check_ours(rt, meta, created, step.create_at)
        if made is not None:
            mine.made[created] = (str(made["metadata"].get("uid", "")), time.monotonic())
    pruned = await prune_history(rt, meta, spec, runs)
    active = [
        run["metadata"]["name"]
        for run in runs
        if not run_finished(run.get("status")) and run["metadata"]["name"] not in pruned
    ]
    if created is not None and created not in active:
        active.append(created)
    succeeded_at = [
        finished
        for run in runs
        if (run.get("status") or {}).get("phase") == RunPhase.SUCCEEDED.value
        and (finished := parse_time((run.get("status") or {}).get("timeFinished"))) is not None
    ]
    new_status = schedule_status(
        plan=step,
        suspend=state.suspend,
        deadline=deadline,
        previous=previous,
        active=active,
        succeeded_at=succeeded_at,
        generation=meta.get("generation"),
        now=cond.now_rfc3339(),
    )
    mine.cursor = {key: new_status.get(key, previous.get(key)) for key in CURSOR_FIELDS}
    events = schedule_events(step, deadline, created, existed, replaced)
    # Most ticks change nothing (a long run being followed): no write then.
    if unchanged(status, new_status):
        return Outcome(events=events)
    return Outcome(status=new_status, events=events)


async def _job_missing(rt: Runtime, body: Mapping[str, Any], due: bool) -> bool:
    """Whether the TrainingJob is missing, looked up (one GET) only when it matters: a run is due, the
    spec is new, or the schedule waits for it (every JOB_RECHECK_SECONDS): a tick following a run
    makes no call."""
    meta, status = body["metadata"], body.get("status") or {}
    if (body.get("spec") or {}).get("suspend"):
        return False  # no run to make: Suspended says all (a resume looks)
    waiting = _stalled_reason(status) == JOB_NOT_FOUND
    edited = status.get("observedGeneration") != meta.get("generation")
    if not (due or waiting or edited):
        return False
    if waiting and not (due or edited) and time.monotonic() < _JOB_LOOKS.get(str(meta["uid"]), 0.0):
        return True  # looked a moment ago (a tick following the runs made before it went)
    job_name = str((body.get("spec") or {}).get("jobRef", {}).get("name", ""))
    return await rt.kube.get_training_job(meta["namespace"], job_name) is None


def _stalled_condition(status: Mapping[str, Any]) -> Mapping[str, Any]:
    return next((c for c in status.get("conditions") or [] if c.get("type") == "Stalled"), {})


def _stalled_reason(status: Mapping[str, Any]) -> str | None:
    stalled_now = _stalled_condition(status)
    return str(stalled_now.get("reason")) if stalled_now.get("status") == "True" else None


def _stalled_since(status: Mapping[str, Any]) -> str | None:
    return _stalled_condition(status).get("lastTransitionTime")


def _job_not_found(
    body: Mapping[str, Any], status: Mapping[str, Any], previous: Mapping[str, Any], mine: Remembered
) -> Outcome:
    """No run is made (it could only wait), nothing canceled, and the handled times stay as they
    were: once the TrainingJob exists, the latest time missed meanwhile runs (within
    startingDeadlineSeconds) and the others count as missed, as after a suspension."""
    meta = body["metadata"]
    job_name = (body.get("spec") or {}).get("jobRef", {}).get("name")
    message = (
        f"TrainingJob {meta['namespace']}/{job_name} (spec.jobRef.name) does not exist: no runs until it does"
    )
    generation, now = meta.get("generation"), cond.now_rfc3339()
    # A TrainingJob applied just after its schedule is picked up at the next tick; one missing for
    # longer is looked for less often.
    since = parse_time(_stalled_since(status)) if _stalled_reason(status) == JOB_NOT_FOUND else None
    waited = (datetime.datetime.now(datetime.UTC) - since).total_seconds() if since else 0.0
    _JOB_LOOKS[meta["uid"]] = time.monotonic() + (
        JOB_RECHECK_SECONDS if waited >= JOB_RECHECK_SECONDS else 0.0
    )
    mine.cursor = {key: previous.get(key) for key in CURSOR_FIELDS}
    written = StatusPatch(
        TrainingJobScheduleStatus(
            phase="Pending",
            message=message,
            observed_generation=generation,
            conditions=cond.with_health(status, cond.Health.STALLED, JOB_NOT_FOUND, message, generation, now),  # type: ignore[arg-type]
        )
    )
    if _stalled_reason(status) == JOB_NOT_FOUND and status.get("message") == message:
        return Outcome()  # said already: no write, no second Event
    return Outcome(status=written, events=[("Warning", JOB_NOT_FOUND, message)])


def remembered(status: Mapping[str, Any], memory: Mapping[str, Any] | None) -> dict[str, Any]:
    """The status with the handled times of `memory` when those are newer (a step of this process
    handled them, and its status write is not in `status` yet, or was lost)."""
    if not memory or _cursor(memory) <= _cursor(status):
        return dict(status)
    return {**status, **{key: value for key, value in memory.items() if value is not None}}


def _cursor(fields: Mapping[str, Any]) -> datetime.datetime:
    times = [parse_time(fields.get(key)) for key in ("lastScheduleTime", "lastMissedTime", "lastSkippedTime")]
    return max(filter(None, times), default=datetime.datetime.min.replace(tzinfo=datetime.UTC))


def unchanged(status: Mapping[str, Any], patch: Mapping[str, Any]) -> bool:
    """Whether writing `patch` over `status` would change nothing."""
    return all(status.get(key) == value for key, value in patch.items())


def not_yet_seen(mine: Remembered, runs: Sequence[Mapping[str, Any]], now: float) -> list[dict[str, Any]]:
    """The runs this process made that `runs` (the index) does not show yet, as unfinished runs."""
    seen = {run["metadata"]["name"] for run in runs}
    for name in [n for n, (_, when) in mine.made.items() if n in seen or now - when > PENDING_SECONDS]:
        del mine.made[name]
    return [
        {"metadata": {"name": name, "uid": uid}, "spec": {}, "status": {}}
        for name, (uid, _) in mine.made.items()
    ]


async def _check_ours(
    rt: Runtime, meta: Mapping[str, Any], name: str, when: datetime.datetime
) -> dict[str, Any] | None:
    """A 409 on create: the run of that name must be this schedule's (made by a step whose status
    write was lost), not another object that took the name."""
    existing = await rt.kube.get_training_job_run(meta["namespace"], name)
    if existing is None or owned_by(existing, meta["uid"]):
        return existing
    raise retry(
        "RunNameTaken",
        f"TrainingJobRun {name} (the name of this schedule's run due at {stamp(when)}) exists and is "
        "not this schedule's (no owner reference to it): delete it to let this time run; "
        "later times run as usual",
    )


def due_soon(body: Mapping[str, Any], now: datetime.datetime) -> bool:
    """Whether a timer tick has anything to do: a run due, unfinished runs to follow (history limits
    and status.active follow them), or a spec not yet reconciled. Otherwise the tick costs nothing."""
    meta, status = body.get("metadata") or {}, body.get("status") or {}
    if (body.get("spec") or {}).get("engine") == ENGINE_OCI:
        oci_due: Any = _oci_step("due_soon")  # a cron time passed, a recheck due, runs to follow
        return bool(oci_due(body, now))
    if status.get("observedGeneration") != meta.get("generation") or status.get("active"):
        return True
    if status.get("phase") in ("Failed", "Suspended"):
        return False  # stalled on this spec (a bad cron line), or suspended: a spec change reconciles it
    if _stalled_reason(status) == JOB_NOT_FOUND:
        return time.monotonic() >= _JOB_LOOKS.get(str(meta.get("uid")), 0.0)
    next_time = parse_time(status.get("nextScheduleTime"))
    return next_time is None or next_time <= now


def seconds_until_due(body: Mapping[str, Any], now: datetime.datetime, interval: float) -> float | None:
    """How long a tick waits for the next scheduled time when it comes before the next tick would,
    so a run starts on its time, not up to one interval late (startingDeadlineSeconds shorter than
    the interval would otherwise miss runs)."""
    status = body.get("status") or {}
    if (body.get("spec") or {}).get("engine") == ENGINE_OCI or status.get("phase") in ("Failed", "Suspended"):
        return None
    next_time = parse_time(status.get("nextScheduleTime"))
    if next_time is None or next_time <= now:
        return None
    wait = (next_time - now).total_seconds()
    # A hair past the time: the plan counts a time as due once now has reached it.
    return wait + DUE_MARGIN_SECONDS if wait <= interval else None


async def finalize(rt: Runtime, body: Mapping[str, Any]) -> Outcome:
    """Delete the schedule's runs (each one's own finalizer cancels and deletes its OCI runs per its
    deletionPolicy), and wait until they are gone: garbage collection would not take them, the
    TrainingJob owns them too."""
    events: list[tuple[str, str, str]] = []
    if (body.get("spec") or {}).get("engine") == ENGINE_OCI:
        # The OCI Schedule goes first, so it makes no run while the runs are deleted.
        outcome = await _oci_step("finalize")(rt, body)
        if outcome.requeue_after is not None:
            return outcome
        events = outcome.events
    meta = body["metadata"]
    runs = await schedule_runs(rt, meta)
    for run in runs:
        if not (run["metadata"].get("deletionTimestamp")):
            await rt.kube.delete_training_job_run(
                meta["namespace"], run["metadata"]["name"], run["metadata"]["uid"]
            )
    if runs:
        names = ", ".join(sorted(run["metadata"]["name"] for run in runs)[:10])
        message = f"waiting for {len(runs)} run(s) of this schedule to be deleted: {names}"
        return Outcome(events=events, requeue_after=DELETION_RECHECK_SECONDS, requeue_reason=message)
    return Outcome(events=events)


async def schedule_runs(rt: Runtime, meta: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The TrainingJobRuns this very schedule made (its uid among their owners: not an earlier
    schedule of the same name), by owner, not label: labels are the user's to edit. One LIST of the
    namespace's runs; handlers read the watch-fed index instead (`indexed_runs`)."""
    listed = await rt.kube.list_labeled_training_job_runs(meta["namespace"], "")
    return [run for run in listed if owned_by(run, meta["uid"])]


def indexed_runs(index: Any, meta: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The schedule's runs from the index of runs by (namespace, schedule uid)."""
    return [dict(run) for run in index.get((str(meta["namespace"]), str(meta["uid"])), ())]


def index_keys(body: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Where a run goes in that index: under each TrainingJobSchedule among its owners."""
    meta = body.get("metadata") or {}
    return [
        (str(meta.get("namespace")), str(ref["uid"]))
        for ref in meta.get("ownerReferences") or []
        if ref.get("kind") == KIND.name and ref.get("uid")
    ]


def run_summary_of(body: Mapping[str, Any]) -> dict[str, Any]:
    """What the schedule reads of one of its runs (kept in the index): history limits' summary,
    and whether it was asked to cancel."""
    summary = run_summary(body)
    summary["spec"]["cancel"] = bool((body.get("spec") or {}).get("cancel"))
    return summary


def owned_by(run: Mapping[str, Any], uid: str) -> bool:
    return any(ref.get("uid") == uid for ref in (run.get("metadata") or {}).get("ownerReferences") or [])


def scheduled_run(run: Mapping[str, Any], schedule: str) -> ScheduledRun:
    meta = run.get("metadata") or {}
    return ScheduledRun(
        name=meta["name"],
        # From the name, which cannot change (the label can).
        scheduled_time=time_of_run(schedule, meta["name"]),
        finished=run_finished(run.get("status")),
        cancel_requested=bool((run.get("spec") or {}).get("cancel")),
    )


def run_body(schedule: Mapping[str, Any], scheduled_time: datetime.datetime) -> dict[str, Any]:
    """The TrainingJobRun for one scheduled time: the run template, the schedule's labels, and the
    schedule as an owner that is not its controller (the TrainingJob is; workflows/training_job_run.py
    adds that reference)."""
    meta, spec = schedule["metadata"], schedule.get("spec") or {}
    template = dict(spec.get("runTemplate") or {})
    template_meta = template.pop("metadata", None) or {}
    labels = {
        **(template_meta.get("labels") or {}),
        SCHEDULE_LABEL: bounded(meta["name"]),
        SCHEDULED_TIME_LABEL: scheduled_time_label(scheduled_time),
    }
    metadata: dict[str, Any] = {
        "name": run_name(meta["name"], scheduled_time),
        "namespace": meta["namespace"],
        "labels": labels,
        "ownerReferences": [
            {
                "apiVersion": API_VERSION,
                "kind": KIND.name,
                "name": meta["name"],
                "uid": meta["uid"],
                "controller": False,
                "blockOwnerDeletion": False,
            }
        ],
    }
    if template_meta.get("annotations"):
        metadata["annotations"] = dict(template_meta["annotations"])
    return {
        "apiVersion": API_VERSION,
        "kind": "TrainingJobRun",
        "metadata": metadata,
        "spec": {**template, "jobRef": dict(spec["jobRef"])},
    }


async def prune_history(
    rt: Runtime, meta: Mapping[str, Any], spec: Mapping[str, Any], runs: Sequence[Mapping[str, Any]]
) -> set[str]:
    """The schedule's history limits over its finished runs (archived in their TrainingJob's archive,
    then deleted). A failure is logged and tried again at the next step: it never blocks scheduling."""
    successful = int(spec.get("successfulRunsHistoryLimit", 3))
    failed = int(spec.get("failedRunsHistoryLimit", 1))
    by_job: dict[str, list[Mapping[str, Any]]] = {}
    for run in runs:
        job = str(((run.get("spec") or {}).get("jobRef") or {}).get("name", ""))
        if job:  # (not a run just made, which the index does not show yet: unfinished anyway)
            by_job.setdefault(job, []).append(run)
    pruned: set[str] = set()
    for job, job_runs in by_job.items():
        try:
            result = await run_history.prune_runs(rt, meta["namespace"], job, job_runs, successful, failed)
        except Exception as exc:
            log.warning(
                "history of TrainingJobSchedule %s/%s: %s: %s",
                meta["namespace"],
                meta["name"],
                type(exc).__name__,
                exc,
            )
            continue
        pruned.update(result.pruned)
    return pruned


Step = Callable[[Runtime, Mapping[str, Any]], Awaitable[Outcome]]


def _oci_step(name: str) -> Step:
    """engine OCI's step, from workflows/schedule_oci.py; a build without it says so instead."""
    try:
        module = importlib.import_module(f"{__package__}.schedule_oci")
    except ImportError:
        module = None
    step = getattr(module, name, None)
    if step is None:
        raise stalled("EngineUnavailable", "spec.engine OCI is not available in this operator build")
    return step  # type: ignore[no-any-return]

"""TrainingJobSchedule with engine OCI: an OCI Data Science Schedule makes the runs; the operator
keeps that Schedule as the spec says and turns each run it made into a TrainingJobRun that follows it.

- The OCI Schedule (CRON trigger, UTC; a CREATE_JOB_RUN action built from runTemplate as a
  TrainingJobRun's CreateJobRun would be) is created (retry token + ocids.io/uid tag find a create a
  crash left unrecorded; a new token once the recorded one is gone), updated in place when what it
  fires changes, deactivated/activated by spec.suspend (never while OCI holds it CREATING/UPDATING),
  deactivated by a spec engine OCI refuses, and on deletion deleted, or with deletionPolicy Retain
  left in OCI (tagged), with the identity and compartment status recorded at create.
- A look (after each cron time, every OCIDS_SCHEDULE_OCI_RECHECK_SECONDS, after a spec change or a
  restart) reads the Schedule back and lists the job's runs back to the last one seen: each new one
  it made (tag ocids.io/schedule-uid and createdBy = the Schedule) becomes TrainingJobRun
  `<schedule>-<unix minutes of timeAccepted>` with annotation ocids.io/job-run-id, which follows
  that run and never creates one.
- concurrencyPolicy, best effort once the operator sees a run: Forbid cancels a new run while an
  older one is unfinished (counted as skipped, never a TrainingJobRun), Replace cancels the older
  ones (spec.cancel on their TrainingJobRuns). startingDeadlineSeconds, time zones other than UTC
  and runTemplate.retryPolicy have no OCI counterpart: refused, naming the field.
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from ..adapters.oci_schedules import ScheduleRequest, Schedules, ScheduleView, schedules_of
from ..api import TrainingJobRunSpec, TrainingJobScheduleStatus, TrainingJobSpec
from ..core import conditions as cond
from ..core.cron import Cron, InvalidSchedule, parse
from ..core.deletion_plan import RETAINED, TAG_RETAINED
from ..core.errors import ReconcileError, stalled
from ..core.model import TAG_TEMPLATE, TAG_UID, RunRequest
from ..core.oci_schedule_plan import (
    JOB_RUN_ID_ANNOTATION,
    TAG_SCHEDULE,
    TAG_SCHEDULE_UID,
    TAG_SKIPPED,
    UTC_ZONES,
    AdoptionStep,
    firing_failed,
    plan_adoption,
    schedule_runs_of,
    skipped_to_delete,
)
from ..core.phases import RunPhase, run_finished
from ..core.run_overrides import override_refusal
from ..core.run_plan import RunView
from ..core.schedule_plan import run_name, stamp
from ..core.status_patch import StatusPatch
from ..core.times import parse_time
from ..runtime import Runtime
from . import schedule, tenancy
from .crash_point import crash_after
from .driver_artifact import driver_context, known_code_file
from .inputs import object_ref, parse_spec, resolve_env
from .outcome import Outcome

log = logging.getLogger(__name__)
Event = tuple[str, str, str]
# Per schedule uid: what the OCI Schedule was last made to match in this process (generation, OCI
# job, revision). While it holds, a look only reads the Schedule (no request is built).
_SYNCED: dict[str, tuple[Any, ...]] = {}
# OCI lists a run it fired within this (its lag): a cron time is looked at this long after it.
SCAN_GRACE = datetime.timedelta(seconds=15)
# A scan lists pages back to this long before status.lastScheduleTime (runs listed late, skipped
# runs to delete once canceled), and at most this many pages.
SCAN_LOOKBACK = datetime.timedelta(minutes=10)
MAX_SCAN_PAGES = 10
UNSUPPORTED = "UnsupportedByEngineOCI"


@dataclasses.dataclass(frozen=True)
class _Look:
    """When this process last looked at a schedule's OCI side, and when it looks next."""

    generation: Any
    next_at: datetime.datetime


# Per schedule uid. A restart looks at once (nothing here).
_LOOKS: dict[str, _Look] = {}


def due_soon(body: Mapping[str, Any], now: datetime.datetime) -> bool:
    """A tick's work: unfinished runs to follow (cluster reads only), or a look at OCI (the Schedule
    read, its runs listed) when a cron time has passed since the last look, every
    OCIDS_SCHEDULE_OCI_RECHECK_SECONDS, or after a spec change or restart."""
    meta, status = body.get("metadata") or {}, body.get("status") or {}
    if status.get("observedGeneration") != meta.get("generation") or status.get("active"):
        return True
    if status.get("phase") in ("Failed", "Suspended"):
        return False  # a spec change reconciles it
    return _looking(meta, now)


def _looking(meta: Mapping[str, Any], now: datetime.datetime) -> bool:
    look = _LOOKS.get(str(meta.get("uid")))
    return look is None or look.generation != meta.get("generation") or now >= look.next_at


async def reconcile(rt: Runtime, body: Mapping[str, Any]) -> Outcome:
    meta, spec = body["metadata"], body.get("spec") or {}
    status = body.get("status") or {}
    namespace, name, uid = meta["namespace"], meta["name"], meta["uid"]
    now = datetime.datetime.now(datetime.UTC)
    if not _looking(meta, now):
        return await _follow_runs(rt, body)
    cron, unsupported = _cron(spec)
    job_name = str((spec.get("jobRef") or {}).get("name", ""))
    job = await rt.kube.get_training_job(namespace, job_name)
    job_status = (job or {}).get("status") or {}
    if unsupported is not None and not status.get("scheduleId"):
        raise unsupported  # nothing in OCI: refused, naming the field
    if job is None or not job_status.get("jobId"):
        return _waiting(status, meta, f"waiting for TrainingJob {job_name} to have its OCI job")
    job_spec: TrainingJobSpec = parse_spec(TrainingJobSpec, job.get("spec") or {})
    # The identity the OCI Schedule was made with (recorded), else the TrainingJob's.
    account = status.get("serviceAccountName")
    account = job_spec.service_account_name if account is None else account or None
    rt = await rt.scoped(uid, namespace, account)
    calls = schedules_of(rt.oci)
    if calls is None:
        raise stalled("EngineUnavailable", "spec.engine OCI: this operator's OCI client has no Schedules API")
    events: list[Event] = []
    job_id = str(job_status["jobId"])
    if unsupported is not None or cron is None:
        view, events = await _deactivate(calls, status["scheduleId"], str(unsupported))
    else:
        key = (meta.get("generation"), job_id, job_status.get("revision"))
        view, events = await _sync(rt, calls, body, job, job_spec, cron, status.get("scheduleId"), key)
    schedule_id = view.id if view is not None else status["scheduleId"]
    fields: dict[str, Any] = {"schedule_id": schedule_id}
    if view is not None and schedule_id != status.get("scheduleId"):
        fields.update(compartment_id=view.compartment_id, service_account_name=account or "")
    if view is not None:
        fields["last_schedule_run_details"] = view.last_schedule_run_details
        if view.last_schedule_run_details != status.get("lastScheduleRunDetails") and firing_failed(
            view.last_schedule_run_details
        ):
            events.append(
                ("Warning", "FiringFailed", f"OCI Schedule {view.id}: {view.last_schedule_run_details}")
            )
    existing = await schedule.schedule_runs(rt, meta)
    watermark = parse_time(status.get("lastScheduleTime"))
    created: list[str] = []
    if schedule_id == status.get("scheduleId"):
        # (A Schedule just made is recorded first: a run's adoption checks it against status.scheduleId.)
        floor = (watermark or parse_time(meta.get("creationTimestamp")) or now) - SCAN_LOOKBACK
        runs = schedule_runs_of(
            await _scan(rt, job_spec.compartment_id, job_id, floor), uid, str(schedule_id)
        )
        step = plan_adoption(
            runs,
            name,
            {run["metadata"]["name"] for run in existing},
            watermark,
            str(spec.get("concurrencyPolicy") or "Allow"),
        )
        events += await _concurrency(rt, step, name, existing, job_spec.compartment_id)
        events += await _delete_skipped(rt, spec, runs, job_spec.compartment_id)
        for run in step.adopt:
            if await _create_run(rt, body, run):
                created.append(run_name(name, run.time_accepted))  # type: ignore[arg-type]
                events.append(
                    ("Normal", "RunCreated", f"created run {created[-1]} following OCI job run {run.id}")
                )
        if step.skipped:
            fields["skipped_schedules"] = int(status.get("skippedSchedules") or 0) + len(step.skipped)
            fields["last_skipped_time"] = max(run.time_accepted for run in step.skipped if run.time_accepted)
        watermark = step.watermark
    pruned = await schedule.prune_history(rt, meta, spec, existing)
    active = sorted(
        {
            run["metadata"]["name"]
            for run in existing
            if not run_finished(run.get("status")) and run["metadata"]["name"] not in pruned
        }
        | set(created)
    )
    suspend = bool(spec.get("suspend"))
    fields.update(_times(existing, status, watermark, None if unsupported else cron, suspend))
    pending = view is not None and view.pending
    if not pending:
        upcoming = None if suspend or cron is None else cron.next_after(now) + SCAN_GRACE
        recheck = now + datetime.timedelta(seconds=rt.settings.schedule_oci_recheck_seconds)
        if schedule_id != status.get("scheduleId"):
            recheck = now  # the next tick scans, with the new Schedule recorded
        _LOOKS[uid] = _Look(meta.get("generation"), min(filter(None, [upcoming, recheck])))
    if unsupported is not None:
        result = Outcome(status=_failed(status, meta, fields, active, unsupported), events=events)
        if pending:  # deactivated once OCI lets it be changed
            result.requeue_after, result.requeue_reason = 5.0, "the OCI Schedule is changing"
        return result
    if view is not None and view.lifecycle_state == "FAILED":
        problem = stalled(
            "ScheduleFailed",
            f"OCI Schedule {view.id} is FAILED ({view.last_schedule_run_details or 'no details'}); "
            "delete it in OCI, then edit this object (or restart the operator) to have a new one made",
        )
        return Outcome(status=_failed(status, meta, fields, active, problem), events=events)
    changing = view.lifecycle_state if view is not None and pending else None
    result = Outcome(status=_status(status, meta, fields, active, suspend, changing), events=events)
    if pending:
        assert view is not None
        result.requeue_after = 5.0
        result.requeue_reason = f"OCI Schedule {view.id} is {view.lifecycle_state}"
    return result


async def _follow_runs(rt: Runtime, body: Mapping[str, Any]) -> Outcome:
    """Between looks at OCI: the runs' side only (status.active, history limits), cluster reads."""
    meta, spec = body["metadata"], body.get("spec") or {}
    existing = await schedule.schedule_runs(rt, meta)
    pruned = await schedule.prune_history(rt, meta, spec, existing)
    active = sorted(
        run["metadata"]["name"]
        for run in existing
        if not run_finished(run.get("status")) and run["metadata"]["name"] not in pruned
    )
    fields: dict[str, Any] = {"active": active, "active_count": len(active)}
    fields.update(
        {k: v for k, v in _times(existing, body.get("status") or {}, None, None, True).items() if v}
    )
    return Outcome(status=StatusPatch(TrainingJobScheduleStatus(**fields)))


async def _scan(rt: Runtime, compartment_id: str, job_id: str, floor: datetime.datetime) -> list[RunView]:
    """The job's runs, newest first, paged back to `floor` (at most MAX_SCAN_PAGES pages)."""
    found: list[RunView] = []
    page: str | None = None
    for _ in range(MAX_SCAN_PAGES):
        items, page = await rt.oci.list_job_runs_page(
            compartment_id, page=page, job_id=job_id, sort_by="timeCreated", sort_order="DESC"
        )
        found += items
        if page is None or any(r.time_accepted is not None and r.time_accepted <= floor for r in items):
            break
    return found


async def _concurrency(
    rt: Runtime,
    step: AdoptionStep,
    name: str,
    existing: Sequence[Mapping[str, Any]],
    compartment_id: str,
) -> list[Event]:
    """Forbid: the skipped run is canceled in OCI and tagged (never adopted). Replace: an older run
    with a TrainingJobRun is canceled through it (spec.cancel, the one cancel rule); one not yet
    adopted, in OCI directly."""
    by_name = {run["metadata"]["name"]: run for run in existing}
    skipped = {run.id for run in step.skipped}
    events: list[Event] = []
    for run, why in step.cancel:
        owner = by_name.get(run_name(name, run.time_accepted)) if run.time_accepted else None
        if run.id not in skipped and owner is not None:
            meta = owner["metadata"]
            if await rt.kube.cancel_training_job_run(meta["namespace"], meta["name"], meta["uid"]):
                events.append(("Normal", "RunReplaced", f"canceled run {meta['name']} (spec.cancel): {why}"))
            continue
        events += await _cancel(rt, run, compartment_id, why)
        if run.id in skipped:
            try:
                await rt.oci.tag_job_run(run.id, {**run.tags, TAG_SKIPPED: "Forbid"})
            except Exception as exc:
                log.warning("could not tag skipped OCI job run %s: %s: %s", run.id, type(exc).__name__, exc)
    return events


async def _delete_skipped(
    rt: Runtime, spec: Mapping[str, Any], runs: Sequence[RunView], compartment_id: str
) -> list[Event]:
    """Skipped runs, once ended, follow the run template's deletionPolicy (Delete: deleted)."""
    if (spec.get("runTemplate") or {}).get("deletionPolicy", "Delete") != "Delete":
        return []
    events: list[Event] = []
    for run in skipped_to_delete(runs):
        try:
            await rt.oci.delete_job_run(run.id, run.compartment_id or compartment_id)
        except Exception as exc:
            log.warning("could not delete skipped OCI job run %s: %s: %s", run.id, type(exc).__name__, exc)
            continue
        events.append(
            ("Normal", "RunDeleted", f"deleted skipped OCI job run {run.id} (deletionPolicy Delete)")
        )
    return events


async def finalize(rt: Runtime, body: Mapping[str, Any]) -> Outcome:
    """Delete the OCI Schedule first (so it makes no run while the runs are deleted), or with
    deletionPolicy Retain leave it in OCI, tagged; then workflows/schedule.py deletes the runs. The
    identity and compartment are the ones status recorded at create: the TrainingJob may be gone."""
    meta, spec = body["metadata"], body.get("spec") or {}
    status = body.get("status") or {}
    _SYNCED.pop(meta["uid"], None)
    _LOOKS.pop(meta["uid"], None)
    account, compartment = status.get("serviceAccountName"), status.get("compartmentId")
    if account is None or not compartment:
        job = await rt.kube.get_training_job(
            meta["namespace"], str((spec.get("jobRef") or {}).get("name", ""))
        )
        job_spec = (job or {}).get("spec") or {}
        account = job_spec.get("serviceAccountName") if account is None else account
        compartment = compartment or job_spec.get("compartmentId")
    rt = await rt.scoped(meta["uid"], meta["namespace"], account or None)
    calls = schedules_of(rt.oci)
    schedule_id = status.get("scheduleId")
    if calls is None:
        return Outcome()
    if schedule_id is None and compartment:
        found = await calls.find_schedules(compartment, {TAG_UID: meta["uid"]})
        schedule_id = found[0].id if found else None
    if schedule_id is None and not compartment and status.get("observedGeneration") is not None:
        # Nothing recorded and no TrainingJob to ask, after a reconcile that got past waiting for the
        # TrainingJob: a create a crash left unrecorded cannot be found.
        unknown = (
            f"no OCI Schedule recorded and TrainingJob {(spec.get('jobRef') or {}).get('name')} is gone: "
            f"look for one tagged {TAG_UID}={meta['uid']} in OCI"
        )
        return Outcome(events=[("Warning", "ScheduleUnknown", unknown)])
    if schedule_id is None:
        return Outcome()
    view = await calls.get_schedule(schedule_id)
    if view is None:
        # OCI answers 404 to a read IAM denies too: gone only once a delete's answer is proven so
        # (else the deletion stays blocked rather than leave a Schedule firing unseen).
        deleted = await calls.delete_schedule(schedule_id, compartment or "")
        what = "deleted OCI Schedule" if deleted else "OCI Schedule was already gone:"
        return Outcome(events=[("Normal", "Deleted", f"{what} {schedule_id}")])
    if view.gone:
        return Outcome(events=[("Normal", "Deleted", f"OCI Schedule {schedule_id} was already gone")])
    if spec.get("deletionPolicy") == "Retain":
        if view.tags.get(TAG_RETAINED) != RETAINED:
            await calls.tag_schedule(view.id, {**view.tags, TAG_RETAINED: RETAINED})
        left = f"left OCI Schedule {view.id} in OCI (deletionPolicy Retain); it keeps making runs"
        return Outcome(events=[("Normal", "Retained", left)])
    await calls.delete_schedule(view.id, view.compartment_id)
    return Outcome(events=[("Normal", "Deleted", f"deleted OCI Schedule {view.id}")])


def _cron(spec: Mapping[str, Any]) -> tuple[Cron | None, ReconcileError | None]:
    """The cron line, and what engine OCI refuses in the spec (Stalled, naming the field), if anything."""
    try:
        cron = parse(str(spec.get("schedule", "")), str(spec.get("timeZone") or "UTC"))
    except InvalidSchedule as exc:
        return None, stalled("InvalidSchedule", str(exc))
    if cron.zone.key not in UTC_ZONES:
        return cron, stalled(
            UNSUPPORTED,
            f"spec.timeZone {cron.zone.key!r}: an OCI Schedule's cron trigger is read in UTC; "
            "use UTC (shifting the hours) or engine Operator",
        )
    if spec.get("startingDeadlineSeconds") is not None:
        return cron, stalled(
            UNSUPPORTED,
            "spec.startingDeadlineSeconds: OCI Schedules fire on time or not at all; "
            "remove it or use engine Operator",
        )
    if (spec.get("runTemplate") or {}).get("retryPolicy"):
        return cron, stalled(
            UNSUPPORTED,
            "spec.runTemplate.retryPolicy: with engine OCI, OCI makes each run and the operator only "
            "follows it; remove it or use engine Operator",
        )
    return cron, None


def _waiting(status: Mapping[str, Any], meta: Mapping[str, Any], message: str) -> Outcome:
    generation = meta.get("generation")
    now = cond.now_rfc3339()
    fields: dict[str, Any] = {
        "phase": "Pending",
        "message": message,
        "conditions": cond.with_health(status, cond.Health.PROGRESSING, "Waiting", message, generation, now),
    }
    return Outcome(
        status=StatusPatch(TrainingJobScheduleStatus(**fields)), requeue_after=10.0, requeue_reason=message
    )


async def _deactivate(
    calls: Schedules, schedule_id: str, why: str
) -> tuple[ScheduleView | None, list[Event]]:
    """A spec engine OCI refuses: the OCI Schedule made for the last good one stops firing."""
    view = await calls.get_schedule(schedule_id)
    if view is None or view.gone or view.pending or not view.active:
        return view, []
    await calls.set_schedule_active(view.id, False)
    event = ("Warning", "Deactivated", f"deactivated OCI Schedule {view.id}: {why}")
    return dataclasses.replace(view, lifecycle_state="INACTIVE"), [event]


async def _sync(
    rt: Runtime,
    calls: Schedules,
    body: Mapping[str, Any],
    job: Mapping[str, Any],
    job_spec: TrainingJobSpec,
    cron: Cron,
    schedule_id: str | None,
    key: tuple[Any, ...],
) -> tuple[ScheduleView, list[Event]]:
    """Read the OCI Schedule back and make it match the spec: create (again, if deleted outside the
    operator), update in place, (de)activate. One CREATING/UPDATING is left alone (OCI refuses
    changes then): the caller looks again soon."""
    meta, spec = body["metadata"], body.get("spec") or {}
    uid = meta["uid"]
    view = await calls.get_schedule(schedule_id) if schedule_id else None
    if view is None or view.gone:
        # A create a crash left unrecorded carries our uid (and the retry token makes it the same one).
        found = await calls.find_schedules(job_spec.compartment_id, {TAG_UID: uid})
        view = found[0] if found else None
    wanted_active = not spec.get("suspend")
    if view is not None and (view.pending or view.lifecycle_state == "FAILED"):
        return view, []
    if view is not None and _SYNCED.get(uid) == key and view.active == wanted_active:
        return view, []
    # `replaces`: the recorded Schedule is gone, so this create needs a retry token of its own.
    request = await _request(rt, body, job, job_spec, cron, replaces=schedule_id or "")
    events: list[Event] = []
    if view is None:
        view = await calls.create_schedule(request)
        what = "inactive (spec.suspend)" if not request.active else f"cron {cron.expression!r} (UTC)"
        gone = f" (OCI Schedule {schedule_id} is gone)" if schedule_id else ""
        events.append(("Normal", "Created", f"created OCI Schedule {view.id}{gone}: {what}"))
    elif view.tags.get(TAG_TEMPLATE) != request.template_hash:
        await calls.update_schedule(view.id, request)
        events.append(("Normal", "Updated", f"updated OCI Schedule {view.id} in place"))
        if view.active != request.active:
            view = await calls.get_schedule(view.id) or view  # real OCI: UPDATING for a while
    if view.pending:
        return view, events
    if view.active != request.active:
        await calls.set_schedule_active(view.id, request.active)
        if request.active and _SYNCED.get(uid) == key:
            # It was as the spec says at the last look: someone deactivated it outside the operator.
            message = (
                f"OCI Schedule {view.id} was {view.lifecycle_state} outside the operator: activated again"
            )
            events.append(("Warning", "Activated", message))
        else:
            verb = "activated" if request.active else "deactivated (spec.suspend)"
            events.append(("Normal", "Activated" if request.active else "Deactivated", f"{verb} {view.id}"))
        view = dataclasses.replace(view, lifecycle_state="ACTIVE" if request.active else "INACTIVE")
    _SYNCED[uid] = key
    return view, events


async def _request(
    rt: Runtime,
    body: Mapping[str, Any],
    job: Mapping[str, Any],
    job_spec: TrainingJobSpec,
    cron: Cron,
    replaces: str = "",
) -> ScheduleRequest:
    """What the OCI Schedule fires: a run of the TrainingJob's current OCI job, built from
    runTemplate exactly as a TrainingJobRun's CreateJobRun is (checks and tenancy gate included)."""
    meta, spec = body["metadata"], body.get("spec") or {}
    namespace = meta["namespace"]
    template = schedule.run_body(body, datetime.datetime.now(datetime.UTC))["spec"]
    run_spec: TrainingJobRunSpec = parse_spec(TrainingJobRunSpec, template)
    refusal = override_refusal(run_spec, job_spec, run_spec.job_ref.name)
    if refusal is not None:
        raise refusal
    await tenancy.admit_run(rt, namespace, run_spec, job_spec)
    tags = {**run_spec.freeform_tags, TAG_SCHEDULE_UID: meta["uid"], TAG_SCHEDULE: meta["name"]}
    run_spec = run_spec.model_copy(update={"freeform_tags": tags})
    job_status = job.get("status") or {}
    ref = object_ref(body, rt.settings.cluster_name)
    run = RunRequest(
        run_spec,
        job_spec,
        ref,
        str(job_status["jobId"]),
        await resolve_env(rt.kube, namespace, job_spec.env),
        await resolve_env(rt.kube, namespace, run_spec.env),
        driver=driver_context(rt.settings, job_spec, known_code_file(job_spec, job_status)),
    )
    return ScheduleRequest(
        ref=ref,
        compartment_id=job_spec.compartment_id,
        project_id=job_spec.project_id,
        cron=cron.expression,
        run=run,
        active=not spec.get("suspend"),
        replaces=replaces,
    )


async def _cancel(rt: Runtime, run: RunView, compartment_id: str, why: str) -> list[Event]:
    """Best effort: a refusal is an Event, never a failed reconcile (the run is OCI's to make)."""
    try:
        await rt.oci.cancel_job_run(run.id, run.compartment_id or compartment_id)
    except Exception as exc:
        log.warning("could not cancel OCI job run %s: %s: %s", run.id, type(exc).__name__, exc)
        return [("Warning", "CancelFailed", f"could not cancel OCI job run {run.id} ({why}): {exc}")]
    return [("Normal", "RunCanceled", f"canceled OCI job run {run.id}: {why}")]


async def _create_run(rt: Runtime, body: Mapping[str, Any], run: RunView) -> bool:
    """The TrainingJobRun following `run`; False when it already existed (a 409 AlreadyExists)."""
    assert run.time_accepted is not None
    run_body = schedule.run_body(body, run.time_accepted)
    run_body["metadata"].setdefault("annotations", {})[JOB_RUN_ID_ANNOTATION] = run.id
    made = await rt.kube.create_training_job_run(body["metadata"]["namespace"], run_body)
    crash_after(rt.settings, "create_scheduled_run")
    return made is not None


def _times(
    runs: Sequence[Mapping[str, Any]],
    status: Mapping[str, Any],
    watermark: datetime.datetime | None,
    cron: Cron | None,
    suspend: bool,
) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "next_schedule_time": None
        if suspend or cron is None
        else cron.next_after(datetime.datetime.now(datetime.UTC))
    }
    if watermark is not None:
        fields["last_schedule_time"] = watermark
    succeeded = [
        finished
        for run in runs
        if (run.get("status") or {}).get("phase") == RunPhase.SUCCEEDED.value
        and (finished := parse_time((run.get("status") or {}).get("timeFinished"))) is not None
    ]
    latest = max([*succeeded, *filter(None, [parse_time(status.get("lastSuccessfulTime"))])], default=None)
    if latest is not None:
        fields["last_successful_time"] = latest
    return fields


def _status(
    previous: Mapping[str, Any],
    meta: Mapping[str, Any],
    fields: dict[str, Any],
    active: list[str],
    suspend: bool,
    changing: str | None = None,
) -> StatusPatch[TrainingJobScheduleStatus]:
    """`changing`: the OCI Schedule's CREATING/UPDATING state: not yet as the spec says (Reconciling)."""
    generation = meta.get("generation")
    where = f"OCI Schedule {fields['schedule_id']} makes the runs"
    upcoming = fields.get("next_schedule_time")
    health = cond.Health.READY
    if changing:
        health, reason = cond.Health.PROGRESSING, "ScheduleChanging"
        message = f"OCI Schedule {fields['schedule_id']} is {changing}; the spec is applied once it is done"
    elif suspend:
        reason, message = "Suspended", "suspended (spec.suspend): the OCI Schedule is inactive"
    else:
        reason, message = "Scheduled", f"{where}; next at {stamp(upcoming)}" if upcoming else where
    now = cond.now_rfc3339()
    fields = {
        **fields,
        "phase": "Suspended" if suspend else "Active",
        "active": active,
        "active_count": len(active),
        "message": message,
        "conditions": cond.with_health(previous, health, reason, message, generation, now),
    }
    if not changing:
        fields["observed_generation"] = generation
    return StatusPatch(TrainingJobScheduleStatus(**fields))


def _failed(
    previous: Mapping[str, Any],
    meta: Mapping[str, Any],
    fields: dict[str, Any],
    active: list[str],
    problem: ReconcileError,
) -> StatusPatch[TrainingJobScheduleStatus]:
    """Failed on this generation (kstatus reads it), the runs still followed."""
    generation = meta.get("generation")
    outcome = problem.outcome
    now = cond.now_rfc3339()
    fields = {
        **fields,
        "phase": "Failed",
        "next_schedule_time": None,
        "active": active,
        "active_count": len(active),
        "observed_generation": generation,
        "message": outcome.message,
        "conditions": cond.with_health(
            previous, cond.Health.STALLED, outcome.reason, outcome.message, generation, now
        ),
    }
    return StatusPatch(TrainingJobScheduleStatus(**fields))

"""Data Science Schedules (``/20190101/schedules``): a trigger (CRON, INTERVAL, ICAL) and an HTTP
action; the emulator runs the CREATE_JOB_RUN action itself (execution/scheduler.py).

Creates, updates, deletes and (de)activations answer with a work request (SCHEDULE_*). By default
it has already SUCCEEDED and the change is in place when the call returns; the
``scheduleTransitions`` fault holds the schedule CREATING/UPDATING/DELETING (work request
IN_PROGRESS) for a while, as OCI does, and other changes meanwhile answer 409 IncorrectState.
"""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any

from aiohttp import web

from ocids_emulator.api.data_science import validation
from ocids_emulator.api.data_science.common import change_compartment, check_create
from ocids_emulator.api.httpio import created_by, emulator, json_body, json_response
from ocids_emulator.api.listing import Listing, list_records
from ocids_emulator.core.emulator import JOB, SCHEDULE, WORK_REQUEST, Emulator
from ocids_emulator.core.errors import incorrect_state, invalid, missing, not_found
from ocids_emulator.core.logs import check_log_target
from ocids_emulator.core.schedule_times import check_trigger, next_fire
from ocids_emulator.core.timeutil import now_rfc3339, parse_rfc3339, rfc3339, utcnow
from ocids_emulator.execution.scheduler import scheduler_of
from ocids_emulator.store.sqlite import Record

TRANSIENT_STATES = frozenset({"CREATING", "UPDATING", "DELETING"})
SCHEDULE_STATES = frozenset({"CREATING", "ACTIVE", "INACTIVE", "UPDATING", "DELETING", "DELETED", "FAILED"})
SUMMARY_FIELDS = (
    "id",
    "displayName",
    "compartmentId",
    "projectId",
    "trigger",
    "timeCreated",
    "timeUpdated",
    "createdBy",
    "lifecycleState",
    "freeformTags",
    "definedTags",
    "systemTags",
)
SCHEDULES = Listing(
    SCHEDULE,
    filters=("projectId", "id", "displayName"),
    states=SCHEDULE_STATES,
    summary_fields=SUMMARY_FIELDS,
)
UPDATABLE = ("displayName", "description", "trigger", "action", "logDetails", "freeformTags", "definedTags")


def schedule_response(record: Record, status: int = 200, work_request: str | None = None) -> web.Response:
    headers = {"opc-work-request-id": work_request} if work_request else None
    return json_response(record.doc, status=status, etag=record.meta["etag"], headers=headers)


def accepted(work_request: str) -> web.Response:
    return web.Response(status=202, headers={"opc-work-request-id": work_request})


def live_schedule(emu: Emulator, schedule_id: str) -> Record:
    record = settle(emu, emu.require(SCHEDULE, schedule_id))
    if record.doc.get("lifecycleState") == "DELETED":
        raise not_found(f"{SCHEDULE} {schedule_id}")
    return record


def changeable_schedule(emu: Emulator, schedule_id: str) -> Record:
    """A live schedule no change is under way on (OCI answers 409 to a change meanwhile)."""
    record = live_schedule(emu, schedule_id)
    state = record.doc["lifecycleState"]
    if state in TRANSIENT_STATES:
        raise incorrect_state(f"Schedule {record.id} is {state}; it cannot be changed until that completes")
    return record


def check_action(emu: Emulator, action: Any, field: str = "action") -> dict[str, Any]:
    """An HTTP action whose CREATE_JOB_RUN details would make a valid run of an existing job."""
    if not isinstance(action, dict):
        raise missing(field)
    if action.get("actionType") != "HTTP":
        raise invalid(f"{field}.actionType must be HTTP")
    details = action.get("actionDetails")
    if not isinstance(details, dict):
        raise missing(f"{field}.actionDetails")
    kind = details.get("httpActionType")
    if kind != "CREATE_JOB_RUN":
        raise invalid(
            f"{field}.actionDetails.httpActionType {kind!r} is not supported by the ocids-emulator "
            "(it runs CREATE_JOB_RUN actions only)"
        )
    run = details.get("createJobRunDetails")
    if not isinstance(run, dict):
        raise missing(f"{field}.actionDetails.createJobRunDetails")
    catalog = validation.Catalog.of(emu)
    check_create(emu, run, functools.partial(validation.check_create_run, catalog=catalog))
    job = emu.store.get(JOB, str(run["jobId"]))
    if job is None or job.doc.get("lifecycleState") == "DELETED":
        raise not_found(f"job {run['jobId']}")
    validation.check_run_fits_job(run, job.doc)
    return action


def check_log_details(emu: Emulator, log: Any) -> None:
    if log is None:
        return
    if not isinstance(log, dict):
        raise invalid("logDetails must be an object")
    for key in ("logGroupId", "logId"):
        if not isinstance(log.get(key), str) or not log[key]:
            raise missing(f"logDetails.{key}")
    check_log_target(emu, log["logGroupId"], log.get("logId"))


def work_request(emu: Emulator, operation: str, schedule: Record, action: str, *, done: bool = True) -> str:
    now = now_rfc3339()
    wr_id = emu.new_id("datascienceworkrequest")
    emu.create(
        WORK_REQUEST,
        wr_id,
        {
            "id": wr_id,
            "operationType": operation,
            "status": "SUCCEEDED" if done else "IN_PROGRESS",
            "compartmentId": schedule.doc["compartmentId"],
            "percentComplete": 100.0 if done else 0.0,
            "resources": [
                {
                    "entityType": "schedule",
                    "actionType": action,
                    "identifier": schedule.id,
                    "entityUri": f"/schedules/{schedule.id}",
                }
            ],
            "timeAccepted": now,
            "timeStarted": now,
            "timeFinished": now if done else None,
        },
    )
    return wr_id


def transition(
    emu: Emulator,
    record: Record,
    states: tuple[str, str],
    operation: tuple[str, str],
    changes: dict[str, Any] | None = None,
) -> str:
    """Move the schedule from ``states`` (transient, target) to the target (with ``changes``, the
    schedule's fields): at once, or through the transient one for as long as the
    scheduleTransitions fault says. ``operation``: the work request's (operationType,
    actionType). The work request's id."""
    (transient, target), (kind, action), fields = states, operation, dict(changes or {})
    fields["timeUpdated"] = now_rfc3339()
    delay = emu.faults.schedule_delay(record.id)
    if delay <= 0:
        emu.save(record, lifecycleState=target, **fields)
        _arrive(emu, record)
        return work_request(emu, kind, record, action)
    wr_id = work_request(emu, kind, record, action, done=False)
    until = utcnow() + dt.timedelta(seconds=delay)
    record.meta["transition"] = {"target": target, "until": rfc3339(until), "workRequest": wr_id}
    emu.save(record, lifecycleState=transient, timeNextScheduledRun=None, **fields)
    return wr_id


def settle(emu: Emulator, record: Record) -> Record:
    """Finish the schedule's change once its time has come (a no-op without one)."""
    pending = record.meta.get("transition")
    if not pending or parse_rfc3339(pending["until"]) > utcnow():
        return record
    del record.meta["transition"]
    emu.save(record, lifecycleState=pending["target"])
    _arrive(emu, record)
    wr = emu.store.get(WORK_REQUEST, pending["workRequest"])
    if wr is not None:
        emu.save(wr, status="SUCCEEDED", percentComplete=100.0, timeFinished=now_rfc3339())
    return record


def settle_all(emu: Emulator) -> None:
    for record in emu.store.all(SCHEDULE):
        if record.meta.get("transition"):
            settle(emu, record)


def _arrive(emu: Emulator, record: Record) -> None:
    """The schedule reached its state: an ACTIVE one counts its next fire from now (None drops it)."""
    if record.doc["lifecycleState"] == "ACTIVE":
        record.meta["anchor"] = record.meta.get("anchor") or rfc3339(scheduler_of(emu).now())
    emu.save(record, timeNextScheduledRun=upcoming(emu, record))
    scheduler_of(emu).wake()


def upcoming(emu: Emulator, record: Record) -> str | None:
    """The next fire time on the scheduler's clock, for an ACTIVE schedule."""
    if record.doc["lifecycleState"] != "ACTIVE":
        return None
    scheduler = scheduler_of(emu)
    found = next_fire(record.doc["trigger"], scheduler.now(), scheduler.anchor(record))
    return rfc3339(found) if found else None


async def create_schedule(request: web.Request) -> web.Response:
    emu = emulator(request)
    body = await json_body(request)
    token = request.headers.get("opc-retry-token")
    replayed = emu.replay("create_schedule", token, body)
    if replayed:
        return schedule_response(emu.require(SCHEDULE, replayed))
    for key in ("compartmentId", "projectId"):
        validation.require_string(body, key, key)
    emu.check_compartment(body["compartmentId"])
    emu.check_project(body["projectId"])
    validation.check_display_name(body)
    validation.check_tags(body)
    trigger = check_trigger(body.get("trigger"))
    action = check_action(emu, body.get("action"))
    check_log_details(emu, body.get("logDetails"))
    now = now_rfc3339()
    schedule_id = emu.new_id("datascienceschedule")
    doc = {
        "id": schedule_id,
        "compartmentId": body["compartmentId"],
        "projectId": body["projectId"],
        "displayName": body.get("displayName") or f"schedule{now[:19].replace('-', '').replace(':', '')}",
        "description": body.get("description"),
        "timeCreated": now,
        "timeUpdated": now,
        "createdBy": created_by(request),
        "lifecycleState": "CREATING",
        "trigger": trigger,
        "action": action,
        "logDetails": body.get("logDetails"),
        "freeformTags": body.get("freeformTags") or {},
        "definedTags": body.get("definedTags") or {},
        "systemTags": {},
    }
    record = emu.create(SCHEDULE, schedule_id, doc, {"anchor": rfc3339(scheduler_of(emu).now())})
    wr_id = transition(emu, record, ("CREATING", "ACTIVE"), ("SCHEDULE_CREATE", "CREATED"))
    emu.remember("create_schedule", token, body, schedule_id)
    emu.faults.note_created(schedule_id)
    return schedule_response(record, work_request=wr_id)


async def get_schedule(request: web.Request) -> web.Response:
    emu = emulator(request)
    return schedule_response(settle(emu, emu.require(SCHEDULE, request.match_info["schedule_id"])))


async def list_schedules(request: web.Request) -> web.Response:
    settle_all(emulator(request))
    return list_records(request, SCHEDULES)


async def update_schedule(request: web.Request) -> web.Response:
    emu = emulator(request)
    record = changeable_schedule(emu, request.match_info["schedule_id"])
    body = await json_body(request)
    emu.check_if_match(record, request.headers.get("if-match"))
    state = record.doc["lifecycleState"]
    if state not in ("ACTIVE", "INACTIVE"):
        raise incorrect_state(f"Schedule {record.id} is {state} and cannot be updated")
    unknown = sorted(set(body) - set(UPDATABLE))
    if unknown:
        raise invalid(f"UpdateScheduleDetails has no field {unknown[0]}")
    validation.check_display_name(body)
    validation.check_tags(body)
    changes = {k: body[k] for k in UPDATABLE if body.get(k) is not None}
    if "trigger" in changes:
        check_trigger(changes["trigger"])
        record.meta["anchor"] = rfc3339(scheduler_of(emu).now())
    if "action" in changes:
        check_action(emu, changes["action"])
    check_log_details(emu, changes.get("logDetails"))
    return accepted(transition(emu, record, ("UPDATING", state), ("SCHEDULE_UPDATE", "UPDATED"), changes))


async def activate_schedule(request: web.Request) -> web.Response:
    return await _set_active(request, True)


async def deactivate_schedule(request: web.Request) -> web.Response:
    return await _set_active(request, False)


async def _set_active(request: web.Request, active: bool) -> web.Response:
    emu = emulator(request)
    record = changeable_schedule(emu, request.match_info["schedule_id"])
    emu.check_if_match(record, request.headers.get("if-match"))
    state = record.doc["lifecycleState"]
    wanted, source = ("ACTIVE", "INACTIVE") if active else ("INACTIVE", "ACTIVE")
    if state != source:
        raise incorrect_state(f"Schedule {record.id} is {state}; only {source} schedules can become {wanted}")
    # Activation counts from now: the times passed while inactive do not fire.
    record.meta["anchor"] = rfc3339(scheduler_of(emu).now())
    operation = "SCHEDULE_ACTIVATE" if active else "SCHEDULE_DEACTIVATE"
    return accepted(transition(emu, record, ("UPDATING", wanted), (operation, "UPDATED")))


async def delete_schedule(request: web.Request) -> web.Response:
    emu = emulator(request)
    record = changeable_schedule(emu, request.match_info["schedule_id"])
    emu.check_if_match(record, request.headers.get("if-match"))
    return accepted(transition(emu, record, ("DELETING", "DELETED"), ("SCHEDULE_DELETE", "DELETED")))


async def change_schedule_compartment(request: web.Request) -> web.Response:
    emu = emulator(request)
    return await change_compartment(request, changeable_schedule(emu, request.match_info["schedule_id"]))


def routes() -> list[web.RouteDef]:
    p = "/20190101"
    return [
        web.post(f"{p}/schedules", create_schedule),
        web.get(f"{p}/schedules", list_schedules, allow_head=False),
        web.get(f"{p}/schedules/{{schedule_id}}", get_schedule, allow_head=False),
        web.put(f"{p}/schedules/{{schedule_id}}", update_schedule),
        web.delete(f"{p}/schedules/{{schedule_id}}", delete_schedule),
        web.post(f"{p}/schedules/{{schedule_id}}/actions/activate", activate_schedule),
        web.post(f"{p}/schedules/{{schedule_id}}/actions/deactivate", deactivate_schedule),
        web.post(f"{p}/schedules/{{schedule_id}}/actions/changeCompartment", change_schedule_compartment),
    ]


async def advance_clock(request: web.Request) -> web.Response:
    """Test-only (not OCI): move the schedulers' clock ``seconds`` ahead and fire what fell due, each
    occurrence at its own time (a run's timeAccepted is the occurrence's time on that clock)."""
    body = await json_body(request)
    seconds = body.get("seconds")
    if not isinstance(seconds, int | float) or isinstance(seconds, bool) or not 0 <= seconds <= 366 * 86400:
        raise invalid("seconds must be a number from 0 to 31622400")
    scheduler = scheduler_of(emulator(request))
    fired = scheduler.advance(float(seconds))
    clock = {"now": rfc3339(scheduler.now()), "offsetSeconds": scheduler.offset_s}
    return json_response({**clock, "fired": fired})


async def get_clock(request: web.Request) -> web.Response:
    scheduler = scheduler_of(emulator(request))
    return json_response({"now": rfc3339(scheduler.now()), "offsetSeconds": scheduler.offset_s})


def admin_routes() -> list[web.RouteDef]:
    return [
        web.get("/_emulator/schedules/clock", get_clock, allow_head=False),
        web.post("/_emulator/schedules/clock/advance", advance_clock),
    ]

"""Logging management (``/20200531``): log groups, logs and logging work requests."""

from __future__ import annotations

from aiohttp import web

from ocids_emulator.api.data_science import validation
from ocids_emulator.api.httpio import emulator, json_body, json_response
from ocids_emulator.api.listing import Listing, list_records
from ocids_emulator.core.emulator import LOG, LOG_GROUP, LOGGING_WORK_REQUEST, Emulator
from ocids_emulator.core.errors import not_found
from ocids_emulator.core.logs import check_log_target, new_log
from ocids_emulator.core.timeutil import now_rfc3339
from ocids_emulator.store.sqlite import Record

LOG_GROUPS = Listing(LOG_GROUP, filters=("displayName",))
LOGS = Listing(LOG, filters=("displayName",))


# handlers ----------------------------------------------------------------------------------
def _work_request(emu: Emulator, operation: str, compartment: str, resource: Record, kind: str) -> str:
    now = now_rfc3339()
    wr_id = emu.new_id("logworkrequest")
    emu.create(
        LOGGING_WORK_REQUEST,
        wr_id,
        {
            "id": wr_id,
            "operationType": operation,
            "status": "SUCCEEDED",
            "compartmentId": compartment,
            "percentComplete": 100.0,
            "resources": [
                {"entityType": kind, "actionType": "CREATED", "identifier": resource.id, "entityUri": ""}
            ],
            "timeAccepted": now,
            "timeStarted": now,
            "timeFinished": now,
        },
    )
    return wr_id


async def create_log_group(request: web.Request) -> web.Response:
    emu = emulator(request)
    body = await json_body(request)
    compartment = validation.require_string(body, "compartmentId", "compartmentId")
    name = validation.require_string(body, "displayName", "displayName")
    emu.check_compartment(compartment)
    now = now_rfc3339()
    gid = emu.new_id("loggroup")
    doc = {
        "id": gid,
        "compartmentId": compartment,
        "displayName": name,
        "description": body.get("description"),
        "lifecycleState": "ACTIVE",
        "freeformTags": body.get("freeformTags") or {},
        "definedTags": body.get("definedTags") or {},
        "timeCreated": now,
        "timeLastModified": now,
    }
    record = emu.create(LOG_GROUP, gid, doc)
    wr = _work_request(emu, "CREATE_LOG_GROUP", compartment, record, "loggroup")
    return web.Response(status=201, headers={"opc-work-request-id": wr})


async def get_log_group(request: web.Request) -> web.Response:
    record = emulator(request).require(LOG_GROUP, request.match_info["log_group_id"], allow_deleted=False)
    return json_response(record.doc, etag=record.meta["etag"])


async def list_log_groups(request: web.Request) -> web.Response:
    return list_records(request, LOG_GROUPS)


async def create_log(request: web.Request) -> web.Response:
    emu = emulator(request)
    group_id = request.match_info["log_group_id"]
    check_log_target(emu, group_id, None)
    body = await json_body(request)
    name = validation.require_string(body, "displayName", "displayName")
    record = new_log(emu, group_id, name, {"logType": body.get("logType") or "CUSTOM"})
    wr = _work_request(emu, "CREATE_LOG", record.doc["compartmentId"], record, "log")
    return web.Response(status=201, headers={"opc-work-request-id": wr})


async def get_log(request: web.Request) -> web.Response:
    emu = emulator(request)
    group_id, log_id = request.match_info["log_group_id"], request.match_info["log_id"]
    record = emu.store.get(LOG, log_id)
    if record is None or record.doc["logGroupId"] != group_id:
        raise not_found(f"log {log_id}")
    return json_response(record.doc, etag=record.meta["etag"])


async def list_logs(request: web.Request) -> web.Response:
    emu = emulator(request)
    group_id = request.match_info["log_group_id"]
    check_log_target(emu, group_id, None)
    return list_records(request, LOGS, scope=("logGroupId", group_id))


async def get_logging_work_request(request: web.Request) -> web.Response:
    record = emulator(request).require(LOGGING_WORK_REQUEST, request.match_info["work_request_id"])
    return json_response(record.doc)


def routes() -> list[web.RouteDef]:
    p = "/20200531"
    return [
        web.post(f"{p}/logGroups", create_log_group),
        web.get(f"{p}/logGroups", list_log_groups, allow_head=False),
        web.get(f"{p}/logGroups/{{log_group_id}}", get_log_group, allow_head=False),
        web.post(f"{p}/logGroups/{{log_group_id}}/logs", create_log),
        web.get(f"{p}/logGroups/{{log_group_id}}/logs", list_logs, allow_head=False),
        web.get(f"{p}/logGroups/{{log_group_id}}/logs/{{log_id}}", get_log, allow_head=False),
        web.get(f"{p}/workRequests/{{work_request_id}}", get_logging_work_request, allow_head=False),
    ]

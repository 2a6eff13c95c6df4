"""Logging management (``/20200531``): log groups, logs, and the entries job runs write."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from aiohttp import web

from . import validation
from .errors import not_found
from .httpio import emulator, json_body, json_response
from .listing import Listing, list_records
from .service import LOG, LOG_GROUP, LOGGING_WORK_REQUEST, Emulator
from .store import Record
from .timeutil import now_rfc3339, rfc3339, utcnow

ENTRY_TYPE = "com.oraclecloud.datascience.jobrun.stdout"
LOG_GROUPS = Listing(LOG_GROUP, filters=("displayName",))
LOGS = Listing(LOG, filters=("displayName",))


def check_log_target(emu: Emulator, group_id: str, log_id: str | None) -> None:
    group = emu.store.get(LOG_GROUP, group_id)
    if group is None or group.doc.get("lifecycleState") == "DELETED":
        raise not_found(f"log group {group_id}")
    if log_id:
        log = emu.store.get(LOG, log_id)
        if log is None or log.doc["logGroupId"] != group_id:
            raise not_found(f"log {log_id} in log group {group_id}")


def new_log(emu: Emulator, group_id: str, display_name: str, extra: dict[str, Any] | None = None) -> Record:
    group = emu.require(LOG_GROUP, group_id)
    now = now_rfc3339()
    log_id = emu.new_id("log")
    doc = {
        "id": log_id,
        "tenancyId": emu.tenancy.tenancy_id,
        "logGroupId": group_id,
        "compartmentId": group.doc["compartmentId"],
        "displayName": display_name,
        "logType": "CUSTOM",
        "isEnabled": True,
        "lifecycleState": "ACTIVE",
        "retentionDuration": 30,
        "freeformTags": {},
        "definedTags": {},
        "timeCreated": now,
        "timeLastModified": now,
        **(extra or {}),
    }
    return emu.create(LOG, log_id, doc)


def append_lines(emu: Emulator, log_id: str, source: str, lines: list[str]) -> None:
    """Store run output as log entries, shaped like Logging search results."""
    log = emu.store.get(LOG, log_id)
    if log is None or not lines:
        return
    rows = []
    now = utcnow()
    for i, line in enumerate(lines):
        # Lines read together would share a timestamp; microsecond steps keep their order visible.
        stamp = now + dt.timedelta(microseconds=i)
        when = rfc3339(stamp)
        content = {
            "datetime": int(stamp.timestamp() * 1000),
            "logContent": {
                "id": str(uuid.uuid4()),
                "time": when,
                "source": source,
                "type": ENTRY_TYPE,
                "specversion": "1.0",
                "subject": "",
                "oracle": {
                    "compartmentid": log.doc["compartmentId"],
                    "loggroupid": log.doc["logGroupId"],
                    "logid": log_id,
                    "tenantid": emu.tenancy.tenancy_id,
                    "ingestedtime": when,
                },
                "data": {"message": line},
            },
        }
        rows.append((log_id, stamp.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), source, content))
    emu.store.add_log_entries(rows)


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

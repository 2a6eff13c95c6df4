"""Data Science work requests (``/20190101/workRequests``)."""

from __future__ import annotations

from aiohttp import web

from ocids_emulator.api.httpio import emulator, json_response, list_response
from ocids_emulator.api.listing import Listing, list_records
from ocids_emulator.core.emulator import WORK_REQUEST

# Work requests have no displayName: sortBy is ignored and the newest come first.
WORK_REQUESTS = Listing(
    WORK_REQUEST, filters=("id", "operationType", "status"), time_field="timeAccepted", sortable=False
)


async def get_work_request(request: web.Request) -> web.Response:
    record = emulator(request).require(WORK_REQUEST, request.match_info["wr_id"])
    return json_response(record.doc, etag=record.meta["etag"])


async def list_work_requests(request: web.Request) -> web.Response:
    resource_id = request.query.get("resourceId")
    if not resource_id:
        return list_records(request, WORK_REQUESTS)
    # resourceId: the work requests that act on that resource (one of their `resources`).
    return list_records(
        request,
        WORK_REQUESTS,
        keep=lambda doc: any(r.get("identifier") == resource_id for r in doc.get("resources") or []),
    )


async def list_work_request_errors(request: web.Request) -> web.Response:
    record = emulator(request).require(WORK_REQUEST, request.match_info["wr_id"])
    return list_response(record.meta.get("errors", []), None)


async def list_work_request_logs(request: web.Request) -> web.Response:
    record = emulator(request).require(WORK_REQUEST, request.match_info["wr_id"])
    entries = [{"message": f"Work request {record.doc['status']}", "timestamp": record.doc["timeAccepted"]}]
    return list_response(entries, None)


def routes() -> list[web.RouteDef]:
    p = "/20190101/workRequests"
    return [
        web.get(p, list_work_requests, allow_head=False),
        web.get(f"{p}/{{wr_id}}", get_work_request, allow_head=False),
        web.get(f"{p}/{{wr_id}}/errors", list_work_request_errors, allow_head=False),
        web.get(f"{p}/{{wr_id}}/logs", list_work_request_logs, allow_head=False),
    ]

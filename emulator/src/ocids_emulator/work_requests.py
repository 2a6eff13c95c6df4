"""Data Science work requests (``/20190101/workRequests``)."""

from __future__ import annotations

from aiohttp import web

from .errors import missing
from .httpio import emulator, json_response, list_response, query
from .paging import paginate
from .service import WORK_REQUEST


async def get_work_request(request: web.Request) -> web.Response:
    record = emulator(request).require(WORK_REQUEST, request.match_info["wr_id"])
    return json_response(record.doc, etag=record.meta["etag"])


async def list_work_requests(request: web.Request) -> web.Response:
    emu = emulator(request)
    q = query(request)
    compartment = q.get("compartmentId")
    if not compartment:
        raise missing("compartmentId")
    emu.check_compartment(compartment)
    docs = [
        r.doc
        for r in emu.store.all(WORK_REQUEST)
        if r.doc["compartmentId"] == compartment
        and all(r.doc.get(k) == q[k] for k in ("id", "operationType", "status") if q.get(k))
    ]
    page, next_page = paginate(docs, {k: v for k, v in q.items() if k != "sortBy"}, time_field="timeAccepted")
    return list_response(page, next_page)


async def list_work_request_errors(request: web.Request) -> web.Response:
    emulator(request).require(WORK_REQUEST, request.match_info["wr_id"])
    return list_response([], None)


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

"""Streaming administration (``/20180418``): stream pools and streams, ACTIVE at once.

A stream's ``messagesEndpoint`` is this emulator's own URL (as the caller reached it): the
StreamClient for its messages points there, as a real one points at the pool's endpoint.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ocids_emulator.api.data_science.validation import check_tags
from ocids_emulator.api.httpio import emulator, json_body, json_response, query
from ocids_emulator.api.listing import Listing, page_response
from ocids_emulator.core.cloud_events import STREAM, STREAM_POOL
from ocids_emulator.core.emulator import Emulator
from ocids_emulator.core.errors import conflict, invalid, missing, not_found
from ocids_emulator.core.timeutil import now_rfc3339
from ocids_emulator.store.paging import enum_param
from ocids_emulator.store.sqlite import Record

STATES = frozenset({"CREATING", "ACTIVE", "DELETING", "DELETED", "FAILED", "UPDATING"})
DEFAULT_POOL = "DefaultPool"
MAX_PARTITIONS = 50
RETENTION_HOURS = (24, 168)
STREAM_SUMMARY = (
    "name",
    "id",
    "partitions",
    "compartmentId",
    "streamPoolId",
    "lifecycleState",
    "timeCreated",
    "messagesEndpoint",
    "freeformTags",
    "definedTags",
)
POOL_SUMMARY = (
    "id",
    "compartmentId",
    "name",
    "lifecycleState",
    "timeCreated",
    "isPrivate",
    "freeformTags",
    "definedTags",
)


def base_url(request: web.Request) -> str:
    return f"{request.scheme}://{request.host}"


def _name(value: Any) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= 255:
        raise invalid("name must be a string of 1 to 255 characters")
    return value


def _pool_doc(emu: Emulator, compartment: str, name: str, body: dict[str, Any], host: str) -> dict[str, Any]:
    return {
        "id": emu.new_id("streampool"),
        "compartmentId": compartment,
        "name": name,
        "lifecycleState": "ACTIVE",
        "timeCreated": now_rfc3339(),
        "kafkaSettings": {
            "bootstrapServers": None,
            "autoCreateTopicsEnable": False,
            "logRetentionHours": 24,
            "numPartitions": 1,
        },
        "customEncryptionKey": {"keyState": "NONE"},
        "isPrivate": False,
        "endpointFqdn": host,
        "freeformTags": body.get("freeformTags") or {},
        "definedTags": body.get("definedTags") or {},
    }


def _stream_doc(record: Record, request: web.Request) -> dict[str, Any]:
    # The endpoint is the one this caller reached, so a stream works from any address the emulator binds.
    return {**record.doc, "messagesEndpoint": base_url(request)}


def live_stream(emu: Emulator, stream_id: str) -> Record:
    return emu.require(STREAM, stream_id, allow_deleted=False)


# stream pools ------------------------------------------------------------------------------------
async def create_stream_pool(request: web.Request) -> web.Response:
    emu = emulator(request)
    body = await json_body(request)
    compartment = body.get("compartmentId")
    if not isinstance(compartment, str) or not compartment:
        raise missing("compartmentId")
    emu.check_compartment(compartment)
    name = _name(body.get("name"))
    check_tags(body)
    doc = _pool_doc(emu, compartment, name, body, request.host)
    record = emu.create(STREAM_POOL, doc["id"], doc)
    return json_response(record.doc, etag=record.meta["etag"])


async def get_stream_pool(request: web.Request) -> web.Response:
    record = emulator(request).require(STREAM_POOL, request.match_info["stream_pool_id"])
    return json_response(record.doc, etag=record.meta["etag"])


async def list_stream_pools(request: web.Request) -> web.Response:
    emu = emulator(request)
    q = query(request)
    compartment = q.get("compartmentId")
    if not compartment:
        raise missing("compartmentId")
    docs = _filtered(emu, STREAM_POOL, q, ("compartmentId", compartment))
    return _page(docs, q, POOL_SUMMARY)


async def delete_stream_pool(request: web.Request) -> web.Response:
    emu = emulator(request)
    pool = emu.require(STREAM_POOL, request.match_info["stream_pool_id"], allow_deleted=False)
    if any(
        s.doc.get("streamPoolId") == pool.id and s.doc.get("lifecycleState") != "DELETED"
        for s in emu.store.all(STREAM)
    ):
        raise conflict(f"Stream pool {pool.id} still has streams; delete them first")
    emu.save(pool, lifecycleState="DELETED")
    return web.Response(status=204)


# streams -----------------------------------------------------------------------------------------
def _pool_for(emu: Emulator, body: dict[str, Any], host: str) -> Record:
    """The pool a new stream goes to: the one named, else the compartment's default pool (OCI
    creates ``DefaultPool`` the first time a stream is made in a compartment without a pool)."""
    pool_id, compartment = body.get("streamPoolId"), body.get("compartmentId")
    if (pool_id is None) == (compartment is None):
        raise invalid("Give exactly one of compartmentId and streamPoolId")
    if pool_id is not None:
        pool = emu.store.get(STREAM_POOL, str(pool_id))
        if pool is None or pool.doc.get("lifecycleState") != "ACTIVE":
            raise not_found(f"stream pool {pool_id}")
        return pool
    if not isinstance(compartment, str):
        raise invalid("compartmentId must be a string")
    emu.check_compartment(compartment)
    for pool in emu.store.all(STREAM_POOL):
        doc = pool.doc
        if (
            doc["compartmentId"] == compartment
            and doc["name"] == DEFAULT_POOL
            and doc["lifecycleState"] == "ACTIVE"
        ):
            return pool
    doc = _pool_doc(emu, compartment, DEFAULT_POOL, {}, host)
    return emu.create(STREAM_POOL, doc["id"], doc)


async def create_stream(request: web.Request) -> web.Response:
    emu = emulator(request)
    body = await json_body(request)
    name = _name(body.get("name"))
    partitions = body.get("partitions")
    if partitions is None:
        raise missing("partitions")
    if (
        isinstance(partitions, bool)
        or not isinstance(partitions, int)
        or not 1 <= partitions <= MAX_PARTITIONS
    ):
        raise invalid(f"partitions must be an integer from 1 to {MAX_PARTITIONS}")
    retention = body.get("retentionInHours", 24)
    low, high = RETENTION_HOURS
    if isinstance(retention, bool) or not isinstance(retention, int) or not low <= retention <= high:
        raise invalid(f"retentionInHours must be an integer from {low} to {high}")
    check_tags(body)
    pool = _pool_for(emu, body, request.host)
    doc = {
        "name": name,
        "id": emu.new_id("stream"),
        "partitions": partitions,
        "retentionInHours": retention,
        "compartmentId": body.get("compartmentId") or pool.doc["compartmentId"],
        "streamPoolId": pool.id,
        "lifecycleState": "ACTIVE",
        "timeCreated": now_rfc3339(),
        "freeformTags": body.get("freeformTags") or {},
        "definedTags": body.get("definedTags") or {},
    }
    record = emu.create(STREAM, doc["id"], doc)
    return json_response(_stream_doc(record, request), etag=record.meta["etag"])


async def get_stream(request: web.Request) -> web.Response:
    record = emulator(request).require(STREAM, request.match_info["stream_id"])
    return json_response(_stream_doc(record, request), etag=record.meta["etag"])


async def list_streams(request: web.Request) -> web.Response:
    emu = emulator(request)
    q = query(request)
    if q.get("streamPoolId"):
        scope = ("streamPoolId", q["streamPoolId"])
    elif q.get("compartmentId"):
        emu.check_compartment(q["compartmentId"])
        scope = ("compartmentId", q["compartmentId"])
    else:
        raise missing("compartmentId or streamPoolId")
    docs = [{**d, "messagesEndpoint": base_url(request)} for d in _filtered(emu, STREAM, q, scope)]
    return _page(docs, q, STREAM_SUMMARY)


async def delete_stream(request: web.Request) -> web.Response:
    emu = emulator(request)
    stream = live_stream(emu, request.match_info["stream_id"])
    emu.save(stream, lifecycleState="DELETED")
    emu.stream_log.trim(stream.id, 0)
    return web.Response(status=204)


def _filtered(emu: Emulator, kind: str, q: dict[str, str], scope: tuple[str, str]) -> list[dict[str, Any]]:
    state = enum_param(q.get("lifecycleState"), "lifecycleState", STATES)
    field, value = scope
    return [
        r.doc
        for r in emu.store.all(kind)
        if r.doc.get(field) == value
        and (r.doc["lifecycleState"] == state if state else r.doc["lifecycleState"] != "DELETED")
        and (not q.get("id") or r.id == q["id"])
        and (not q.get("name") or r.doc.get("name") == q["name"])
    ]


def _page(docs: list[dict[str, Any]], q: dict[str, str], fields: tuple[str, ...]) -> web.Response:
    """Sorted by OCI's NAME or TIMECREATED (default), paged as every list is."""
    sort_by = enum_param(q.get("sortBy"), "sortBy", frozenset({"NAME", "TIMECREATED"})) or "TIMECREATED"
    if sort_by == "NAME":
        # The shared pager sorts on displayName; a stream's (or pool's) is its name.
        docs = [{**d, "displayName": d["name"]} for d in docs]
    q = {**q, "sortBy": "displayName" if sort_by == "NAME" else "timeCreated"}
    return page_response(docs, q, Listing(STREAM, summary_fields=fields))


def routes() -> list[web.RouteDef]:
    p = "/20180418"
    return [
        web.post(f"{p}/streampools", create_stream_pool),
        web.get(f"{p}/streampools", list_stream_pools, allow_head=False),
        web.get(f"{p}/streampools/{{stream_pool_id}}", get_stream_pool, allow_head=False),
        web.delete(f"{p}/streampools/{{stream_pool_id}}", delete_stream_pool),
        web.post(f"{p}/streams", create_stream),
        web.get(f"{p}/streams", list_streams, allow_head=False),
        web.get(f"{p}/streams/{{stream_id}}", get_stream, allow_head=False),
        web.delete(f"{p}/streams/{{stream_id}}", delete_stream),
    ]

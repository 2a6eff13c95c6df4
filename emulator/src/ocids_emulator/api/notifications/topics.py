"""Notifications topics (``/20181201/topics``): ACTIVE at once; a name is unique in the tenancy.

A topic's ``apiEndpoint`` is this emulator (as the caller reached it): the data plane client for
its subscriptions and messages points there, as a real one points at the region's cell.
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from ocids_emulator.api.data_science.validation import check_tags
from ocids_emulator.api.httpio import emulator, json_body, json_response, query
from ocids_emulator.api.listing import required_compartment
from ocids_emulator.api.notifications.common import base_url, notifier, page
from ocids_emulator.core.emulator import Emulator
from ocids_emulator.core.errors import cannot_parse, conflict, invalid, missing, not_found
from ocids_emulator.core.notifications import SUBSCRIPTION, TOPIC
from ocids_emulator.core.timeutil import now_rfc3339
from ocids_emulator.store.paging import enum_param
from ocids_emulator.store.sqlite import Record

NAME = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
STATES = frozenset({"ACTIVE", "DELETING", "CREATING"})
SORT_FIELDS = {"TIMECREATED": "timeCreated", "NAME": "name"}
UPDATABLE = {"description", "freeformTags", "definedTags"}
MESSAGE_TYPES = {"JSON": "application/json", "RAW_TEXT": "text/plain; charset=utf-8"}
MAX_MESSAGE_BYTES = 64 * 1024


def shown(record: Record) -> dict[str, Any]:
    return {**record.doc, "etag": record.meta["etag"]}


def _response(record: Record) -> web.Response:
    return json_response(shown(record), etag=record.meta["etag"])


def live_topic(emu: Emulator, topic_id: str) -> Record:
    record = emu.store.get(TOPIC, topic_id)
    if record is None or record.doc.get("lifecycleState") != "ACTIVE":
        raise not_found(f"topic {topic_id}")
    return record


def _description(value: Any) -> str | None:
    if value is not None and not isinstance(value, str):
        raise invalid("description must be a string")
    return value


async def create_topic(request: web.Request) -> web.Response:
    emu = emulator(request)
    body = await json_body(request)
    token = request.headers.get("opc-retry-token")
    earlier = emu.replay("create_topic", token, body)
    if earlier:
        return _response(live_topic(emu, earlier))
    for name in ("name", "compartmentId"):
        if body.get(name) is None:
            raise missing(name)
    name = body["name"]
    if not isinstance(name, str) or not NAME.match(name):
        raise invalid("name must be 1 to 256 letters, digits, hyphens or underscores")
    compartment = body["compartmentId"]
    if not isinstance(compartment, str):
        raise invalid("compartmentId must be a string")
    emu.check_compartment(compartment)
    check_tags(body)
    description = _description(body.get("description"))
    if any(
        t.doc.get("name") == name and t.doc.get("lifecycleState") == "ACTIVE" for t in emu.store.all(TOPIC)
    ):
        raise conflict(f"A topic named {name} already exists in the tenancy")
    topic_id = emu.new_id("onstopic")
    doc = {
        "name": name,
        "topicId": topic_id,
        "shortTopicId": topic_id.rsplit(".", 1)[-1][:10],
        "compartmentId": compartment,
        "lifecycleState": "ACTIVE",
        "description": description,
        "timeCreated": now_rfc3339(),
        "freeformTags": body.get("freeformTags") or {},
        "definedTags": body.get("definedTags") or {},
        "apiEndpoint": base_url(request),
    }
    record = emu.create(TOPIC, topic_id, doc)
    emu.remember("create_topic", token, body, topic_id)
    return _response(record)


async def get_topic(request: web.Request) -> web.Response:
    return _response(live_topic(emulator(request), request.match_info["topic_id"]))


async def update_topic(request: web.Request) -> web.Response:
    emu = emulator(request)
    record = live_topic(emu, request.match_info["topic_id"])
    emu.check_if_match(record, request.headers.get("if-match"))
    body = await json_body(request)
    fixed = sorted(set(body) - UPDATABLE)
    if fixed:
        raise invalid(f"These fields cannot be updated on a topic: {', '.join(fixed)}")
    check_tags(body)
    _description(body.get("description"))
    return _response(emu.save(record, **{k: v for k, v in body.items() if v is not None}))


async def delete_topic(request: web.Request) -> web.Response:
    """The topic goes, and its subscriptions with it (no message is delivered for them after)."""
    emu = emulator(request)
    record = live_topic(emu, request.match_info["topic_id"])
    emu.check_if_match(record, request.headers.get("if-match"))
    for sub in list(emu.store.all(SUBSCRIPTION)):
        if sub.doc.get("topicId") == record.id and sub.doc.get("lifecycleState") != "DELETED":
            emu.save(sub, lifecycleState="DELETED")
    emu.store.delete_record(TOPIC, record.id)
    return web.Response(status=202)


async def list_topics(request: web.Request) -> web.Response:
    emu = emulator(request)
    q = query(request)
    compartment = required_compartment(emu, q)
    state = enum_param(q.get("lifecycleState"), "lifecycleState", STATES)
    docs = [
        shown(r)
        for r in emu.store.all(TOPIC)
        if r.doc["compartmentId"] == compartment
        and (not state or r.doc["lifecycleState"] == state)
        and (not q.get("id") or r.id == q["id"])
        and (not q.get("name") or r.doc["name"] == q["name"])
    ]
    return page(docs, q, id_field="topicId", sort_fields=SORT_FIELDS, default_sort="TIMECREATED")


async def publish_message(request: web.Request) -> web.Response:
    """PublishMessage: ``body`` goes to every ACTIVE subscription (in the background)."""
    emu = emulator(request)
    topic = live_topic(emu, request.match_info["topic_id"])
    body = await json_body(request)
    message = body.get("body")
    if message is None:
        raise missing("body")
    if not isinstance(message, str):
        raise invalid("body must be a string")
    title = body.get("title")
    if title is not None and not isinstance(title, str):
        raise invalid("title must be a string")
    raw = message.encode()
    if len(raw) > MAX_MESSAGE_BYTES:
        raise invalid(f"body must be at most {MAX_MESSAGE_BYTES} bytes")
    kind = request.headers.get("messageType", "JSON").upper()
    if kind not in MESSAGE_TYPES:
        raise cannot_parse(f"messageType must be one of {', '.join(MESSAGE_TYPES)}")
    message_id, timestamp = notifier(request).publish(topic.id, raw, MESSAGE_TYPES[kind])
    return json_response({"messageId": message_id, "timeStamp": timestamp}, status=202)


def routes() -> list[web.RouteDef]:
    p = "/20181201"
    return [
        web.post(f"{p}/topics", create_topic),
        web.get(f"{p}/topics", list_topics, allow_head=False),
        web.get(f"{p}/topics/{{topic_id}}", get_topic, allow_head=False),
        web.put(f"{p}/topics/{{topic_id}}", update_topic),
        web.delete(f"{p}/topics/{{topic_id}}", delete_topic),
        web.post(f"{p}/topics/{{topic_id}}/messages", publish_message),
    ]

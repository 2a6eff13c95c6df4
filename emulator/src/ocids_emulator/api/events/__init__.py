"""OCI Events (``/20181201/rules``): rules whose condition picks events and whose actions deliver
them to a Streaming stream (OSS) or a Notifications topic (ONS). Rules are ACTIVE at once.

What the rules receive is made in core/cloud_events.py; ``GET /_emulator/events`` shows it.
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from ocids_emulator.api.data_science.validation import check_tags
from ocids_emulator.api.httpio import EMULATOR_KEY, emulator, json_body, json_response, query
from ocids_emulator.api.listing import Listing, page_response, required_compartment
from ocids_emulator.core.cloud_events import RULE, STREAM, Condition, misspelled_fields, parse_condition
from ocids_emulator.core.emulator import Emulator
from ocids_emulator.core.errors import invalid, missing
from ocids_emulator.core.notifications import TOPIC
from ocids_emulator.core.timeutil import now_rfc3339
from ocids_emulator.store.paging import enum_param

LOG = logging.getLogger(__name__)
RULE_STATES = frozenset({"CREATING", "ACTIVE", "INACTIVE", "UPDATING", "DELETING", "DELETED", "FAILED"})
SUMMARY_FIELDS = (
    "id",
    "displayName",
    "description",
    "lifecycleState",
    "condition",
    "compartmentId",
    "isEnabled",
    "timeCreated",
    "freeformTags",
    "definedTags",
)
UPDATABLE = {"displayName", "description", "isEnabled", "condition", "actions", "freeformTags", "definedTags"}
ACTION_TARGETS = {"OSS": "streamId", "ONS": "topicId"}
# OCI's sortBy names -> the field sorted on.
SORT_FIELDS = {"TIME_CREATED": "timeCreated", "DISPLAY_NAME": "displayName", "ID": "id"}


def _display_name(value: Any) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= 255:
        raise invalid("displayName must be a string of 1 to 255 characters")
    return value


def _is_enabled(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise invalid(f"{where} must be true or false")
    return value


def check_actions(emu: Emulator, raw: Any) -> dict[str, Any]:
    """``actions.actions[]``: each an OSS action naming an existing stream or an ONS action naming
    a topic; the rule's stored actions get ids and states as OCI shows them."""
    actions = raw.get("actions") if isinstance(raw, dict) else None
    if not isinstance(actions, list) or not actions:
        raise invalid("actions.actions must be a non-empty list")
    shown = []
    for index, action in enumerate(actions):
        where = f"actions.actions[{index}]"
        if not isinstance(action, dict):
            raise invalid(f"{where} must be an object")
        kind = action.get("actionType")
        if kind not in ACTION_TARGETS:
            raise invalid(f"{where}.actionType must be one of OSS, ONS (FAAS is not emulated)")
        target_field = ACTION_TARGETS[kind]
        target = action.get(target_field)
        if not isinstance(target, str) or not target:
            raise invalid(f"{where}.{target_field} is required for actionType {kind}")
        if kind == "OSS":
            stream = emu.store.get(STREAM, target)
            if stream is None or stream.doc.get("lifecycleState") == "DELETED":
                raise invalid(f"{where}.streamId: no stream {target}")
        else:
            topic = emu.store.get(TOPIC, target)
            if topic is None or topic.doc.get("lifecycleState") in ("DELETING", "DELETED"):
                raise invalid(f"{where}.topicId: no topic {target}")
        description = action.get("description")
        if description is not None and not isinstance(description, str):
            raise invalid(f"{where}.description must be a string")
        shown.append(
            {
                "actionType": kind,
                "id": emu.new_id("eventaction"),
                "lifecycleState": "ACTIVE",
                "lifecycleMessage": "",
                "isEnabled": _is_enabled(action.get("isEnabled", True), f"{where}.isEnabled"),
                "description": description,
                target_field: target,
            }
        )
    return {"actions": shown}


def _warn_misspelled(condition: Condition) -> None:
    # OCI takes such a condition and it matches nothing; say so where a user looks.
    for path in misspelled_fields(condition):
        LOG.warning("rule condition names %s: OCI's events spell it freeFormTags; it matches nothing", path)


def _rule_response(doc: dict[str, Any], etag: str) -> web.Response:
    return json_response(doc, etag=etag)


async def create_rule(request: web.Request) -> web.Response:
    emu = emulator(request)
    body = await json_body(request)
    token = request.headers.get("opc-retry-token")
    earlier = emu.replay("create_rule", token, body)
    if earlier:
        record = emu.require(RULE, earlier)
        return _rule_response(record.doc, record.meta["etag"])
    for field in ("displayName", "isEnabled", "condition", "compartmentId", "actions"):
        if body.get(field) is None:
            raise missing(field)
    compartment = body["compartmentId"]
    if not isinstance(compartment, str):
        raise invalid("compartmentId must be a string")
    emu.check_compartment(compartment)
    check_tags(body)
    description = body.get("description")
    if description is not None and not isinstance(description, str):
        raise invalid("description must be a string")
    # Everything is checked before anything is stored: a bad rule leaves nothing behind.
    _warn_misspelled(parse_condition(body["condition"]))
    doc = {
        "id": emu.new_id("eventrule"),
        "displayName": _display_name(body["displayName"]),
        "description": description,
        "lifecycleState": "ACTIVE",
        "condition": body["condition"],
        "compartmentId": compartment,
        "isEnabled": _is_enabled(body["isEnabled"], "isEnabled"),
        "freeformTags": body.get("freeformTags") or {},
        "definedTags": body.get("definedTags") or {},
        "actions": check_actions(emu, body["actions"]),
        "timeCreated": now_rfc3339(),
    }
    record = emu.create(RULE, doc["id"], doc)
    emu.remember("create_rule", token, body, record.id)
    return _rule_response(record.doc, record.meta["etag"])


async def get_rule(request: web.Request) -> web.Response:
    record = emulator(request).require(RULE, request.match_info["rule_id"])
    return _rule_response(record.doc, record.meta["etag"])


async def update_rule(request: web.Request) -> web.Response:
    emu = emulator(request)
    record = emu.require(RULE, request.match_info["rule_id"], allow_deleted=False)
    emu.check_if_match(record, request.headers.get("if-match"))
    body = await json_body(request)
    fixed = sorted(set(body) - UPDATABLE)
    if fixed:
        raise invalid(f"These fields cannot be updated on a rule: {', '.join(fixed)}")
    check_tags(body)
    changes: dict[str, Any] = {k: v for k, v in body.items() if v is not None}
    if "displayName" in changes:
        _display_name(changes["displayName"])
    if "isEnabled" in changes:
        _is_enabled(changes["isEnabled"], "isEnabled")
    if "condition" in changes:
        _warn_misspelled(parse_condition(changes["condition"]))
    if "actions" in changes:
        changes["actions"] = check_actions(emu, changes["actions"])
    record = emu.save(record, **changes)
    return _rule_response(record.doc, record.meta["etag"])


async def delete_rule(request: web.Request) -> web.Response:
    emu = emulator(request)
    record = emu.require(RULE, request.match_info["rule_id"], allow_deleted=False)
    emu.check_if_match(record, request.headers.get("if-match"))
    emu.save(record, lifecycleState="DELETED")
    return web.Response(status=204)


async def list_rules(request: web.Request) -> web.Response:
    emu = emulator(request)
    q = query(request)
    compartment = required_compartment(emu, q)
    state = enum_param(q.get("lifecycleState"), "lifecycleState", RULE_STATES)
    sort_by = enum_param(q.get("sortBy"), "sortBy", frozenset(SORT_FIELDS)) or "TIME_CREATED"
    name = q.get("displayName")
    docs = [
        r.doc
        for r in emu.store.all(RULE)
        if r.doc["compartmentId"] == compartment
        and (r.doc["lifecycleState"] == state if state else r.doc["lifecycleState"] != "DELETED")
        and (not name or r.doc.get("displayName") == name)
    ]
    field = SORT_FIELDS[sort_by]
    if field == "displayName":
        listing = Listing(RULE, summary_fields=SUMMARY_FIELDS)
        q = {**q, "sortBy": "displayName"}
    else:
        listing = Listing(RULE, summary_fields=SUMMARY_FIELDS, time_field=field)
        q = {**q, "sortBy": "timeCreated"}
    return page_response(docs, q, listing)


async def get_cloud_events(request: web.Request) -> web.Response:
    """Admin: what Events emitted and how each was delivered (not part of the OCI API)."""
    events = request.app[EMULATOR_KEY].cloud_events
    return json_response({"counts": events.counts, "recent": list(events.recent)})


def routes() -> list[web.RouteDef]:
    p = "/20181201"
    return [
        web.post(f"{p}/rules", create_rule),
        web.get(f"{p}/rules", list_rules, allow_head=False),
        web.get(f"{p}/rules/{{rule_id}}", get_rule, allow_head=False),
        web.put(f"{p}/rules/{{rule_id}}", update_rule),
        web.delete(f"{p}/rules/{{rule_id}}", delete_rule),
    ]


def admin_routes() -> list[web.RouteDef]:
    return [web.get("/_emulator/events", get_cloud_events, allow_head=False)]

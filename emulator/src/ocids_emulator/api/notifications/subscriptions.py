"""Notifications subscriptions (``/20181201/subscriptions``): HTTPS ones only (``HTTPS`` or
``CUSTOM_HTTPS``), PENDING until the endpoint's owner opens the confirmation link the
SubscriptionConfirmation message carries; then ACTIVE, receiving the topic's messages.

The confirmation (and unsubscription) link is unsigned, as OCI's is: whoever holds the token may
use it. The endpoint's userinfo is the Basic credentials deliveries send; it is shown as given by
this API (the caller's own resource) and nowhere else (logs and admin output redact it).
"""

from __future__ import annotations

import json
import secrets
import time
from typing import Any
from urllib.parse import urlencode, urlsplit

from aiohttp import web

from ocids_emulator.api.data_science.validation import check_tags
from ocids_emulator.api.httpio import emulator, json_body, json_response, query
from ocids_emulator.api.listing import required_compartment
from ocids_emulator.api.notifications.common import base_url, notifier, page
from ocids_emulator.api.notifications.topics import live_topic
from ocids_emulator.core.emulator import Emulator
from ocids_emulator.core.errors import incorrect_state, invalid, missing, not_found
from ocids_emulator.core.notifications import HTTPS_PROTOCOLS, SUBSCRIPTION, TOPIC, redact_url
from ocids_emulator.store.sqlite import Record

MAX_ENDPOINT = 512
SUMMARY_FIELDS = (
    "id",
    "topicId",
    "protocol",
    "endpoint",
    "lifecycleState",
    "compartmentId",
    "createdTime",
    "etag",
    "freeformTags",
    "definedTags",
)


def delivery_policy(emu: Emulator) -> dict[str, Any]:
    retry_ms = int(emu.settings.notifications_retry_seconds * 1000)
    return {"backoffRetryPolicy": {"maxRetryDuration": retry_ms, "policyType": "EXPONENTIAL"}}


def shown(emu: Emulator, record: Record) -> dict[str, Any]:
    return {**record.doc, "etag": record.meta["etag"], "deliverPolicy": json.dumps(delivery_policy(emu))}


def _response(emu: Emulator, record: Record) -> web.Response:
    return json_response(shown(emu, record), etag=record.meta["etag"])


def check_endpoint(value: Any) -> str:
    """An https URL with a host; its userinfo, if any, is ``user:password`` for Basic auth."""
    if not isinstance(value, str) or not value or len(value) > MAX_ENDPOINT:
        raise invalid(f"endpoint must be an https URL of at most {MAX_ENDPOINT} characters")
    try:
        parts = urlsplit(value)
        _ = parts.port  # a port that is not a number raises here
    except ValueError:
        raise invalid(f"endpoint is not a valid URL: {redact_url(value)}") from None
    if parts.scheme != "https" or not parts.hostname:
        raise invalid(f"endpoint must be an https://host[:port]/path URL, got {redact_url(value)}")
    return value


def _links(record: Record) -> tuple[str, str]:
    """The confirmation and unsubscription links of a subscription (OCI's shape, this host)."""
    args = urlencode({"token": record.meta["token"], "protocol": record.doc["protocol"]})
    base = f"{record.meta['base']}/20181201/subscriptions/{record.id}"
    return f"{base}/confirmation?{args}", f"{base}/unsubscription?{args}"


async def create_subscription(request: web.Request) -> web.Response:
    emu = emulator(request)
    body = await json_body(request)
    token = request.headers.get("opc-retry-token")
    earlier = emu.replay("create_subscription", token, body)
    if earlier:
        return _response(emu, emu.require(SUBSCRIPTION, earlier))
    for name in ("topicId", "compartmentId", "protocol", "endpoint"):
        if body.get(name) is None:
            raise missing(name)
    compartment = body["compartmentId"]
    if not isinstance(compartment, str):
        raise invalid("compartmentId must be a string")
    emu.check_compartment(compartment)
    protocol = body["protocol"]
    if protocol not in HTTPS_PROTOCOLS:
        raise invalid(
            f"protocol must be one of {', '.join(sorted(HTTPS_PROTOCOLS))} (the others are not emulated)"
        )
    endpoint = check_endpoint(body["endpoint"])
    topic = live_topic(emu, str(body["topicId"]))
    check_tags(body)
    metadata = body.get("metadata")
    if metadata is not None and not isinstance(metadata, str):
        raise invalid("metadata must be a string")
    sub_id = emu.new_id("onssubscription")
    doc = {
        "id": sub_id,
        "topicId": topic.id,
        "protocol": protocol,
        "endpoint": endpoint,
        "lifecycleState": "PENDING",
        "compartmentId": compartment,
        "createdTime": int(time.time() * 1000),
        "freeformTags": body.get("freeformTags") or {},
        "definedTags": body.get("definedTags") or {},
    }
    # The token is the link's only protection: kept out of the resource the API shows.
    meta = {"token": secrets.token_urlsafe(32), "base": base_url(request)}
    record = emu.create(SUBSCRIPTION, sub_id, doc, meta)
    emu.remember("create_subscription", token, body, sub_id)
    notifier(request).confirm_request(sub_id, _links(record)[0])
    return _response(emu, record)


async def get_subscription(request: web.Request) -> web.Response:
    emu = emulator(request)
    return _response(emu, emu.require(SUBSCRIPTION, request.match_info["subscription_id"]))


async def delete_subscription(request: web.Request) -> web.Response:
    emu = emulator(request)
    record = emu.require(SUBSCRIPTION, request.match_info["subscription_id"], allow_deleted=False)
    emu.check_if_match(record, request.headers.get("if-match"))
    emu.save(record, lifecycleState="DELETED")
    return web.Response(status=204)


async def list_subscriptions(request: web.Request) -> web.Response:
    emu = emulator(request)
    q = query(request)
    compartment = required_compartment(emu, q)
    topic = q.get("topicId")
    docs = [
        {k: v for k, v in shown(emu, r).items() if k in SUMMARY_FIELDS}
        | {"deliveryPolicy": delivery_policy(emu)}
        for r in emu.store.all(SUBSCRIPTION)
        if r.doc["compartmentId"] == compartment
        and r.doc["lifecycleState"] != "DELETED"
        and (not topic or r.doc["topicId"] == topic)
    ]
    return page(
        docs, q, id_field="id", sort_fields={"TIMECREATED": "createdTime"}, default_sort="TIMECREATED"
    )


async def resend_subscription_confirmation(request: web.Request) -> web.Response:
    emu = emulator(request)
    record = emu.require(SUBSCRIPTION, request.match_info["subscription_id"], allow_deleted=False)
    if record.doc["lifecycleState"] != "PENDING":
        raise incorrect_state(f"subscription {record.id} is {record.doc['lifecycleState']}, not PENDING")
    notifier(request).confirm_request(record.id, _links(record)[0])
    return _response(emu, record)


def _by_token(request: web.Request) -> Record:
    """The subscription a confirmation link names, if its token is the one issued (else 404)."""
    emu = emulator(request)
    record = emu.store.get(SUBSCRIPTION, request.match_info["subscription_id"])
    given = request.query.get("token", "")
    if record is None or not secrets.compare_digest(given.encode(), str(record.meta.get("token")).encode()):
        raise not_found(f"subscription {request.match_info['subscription_id']}")
    return record


def _result(emu: Emulator, record: Record, message: str) -> web.Response:
    topic = emu.store.get(TOPIC, record.doc["topicId"])
    return json_response(
        {
            "topicName": topic.doc.get("name") if topic else None,
            "topicId": record.doc["topicId"],
            "endpoint": redact_url(record.doc["endpoint"]),
            "unsubscribeUrl": _links(record)[1],
            "message": message,
            "subscriptionId": record.id,
        }
    )


# Leading underscore: not an OCI operation the middleware signs or authorizes (the link is bare).
async def _get_confirm_subscription(request: web.Request) -> web.Response:
    emu = emulator(request)
    record = _by_token(request)
    state = record.doc["lifecycleState"]
    if state == "DELETED":
        raise not_found(f"subscription {record.id}")
    if state == "PENDING":
        record = emu.save(record, lifecycleState="ACTIVE")
    return _result(emu, record, "The subscription is confirmed.")


async def _get_unsubscription(request: web.Request) -> web.Response:
    emu = emulator(request)
    record = _by_token(request)
    if record.doc["lifecycleState"] != "DELETED":
        emu.save(record, lifecycleState="DELETED")
    # GetUnsubscription answers a bare string, as the SDK reads it.
    return json_response(f"You are unsubscribed from topic {record.doc['topicId']}.")


def routes() -> list[web.RouteDef]:
    p = "/20181201/subscriptions"
    return [
        web.post(p, create_subscription),
        web.get(p, list_subscriptions, allow_head=False),
        web.get(f"{p}/{{subscription_id}}", get_subscription, allow_head=False),
        web.delete(f"{p}/{{subscription_id}}", delete_subscription),
        web.post(f"{p}/{{subscription_id}}/resendConfirmation", resend_subscription_confirmation),
        web.get(f"{p}/{{subscription_id}}/confirmation", _get_confirm_subscription, allow_head=False),
        web.get(f"{p}/{{subscription_id}}/unsubscription", _get_unsubscription, allow_head=False),
    ]

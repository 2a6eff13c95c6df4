"""OCI Events for job runs: the CloudEvents envelopes, rule conditions, and delivery to the rules'
actions (a Streaming stream, OSS; a Notifications topic, ONS).

Delivery costs one SQLite insert per stream action and no thread: a faulted delivery (late,
duplicated, held back) is a timer on the running event loop.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import uuid
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ocids_emulator.core.errors import invalid
from ocids_emulator.core.notifications import TOPIC
from ocids_emulator.core.ocids import region_key
from ocids_emulator.core.timeutil import now_rfc3339
from ocids_emulator.security.policies import permission_text, service_principal
from ocids_emulator.store.sqlite import Record

if TYPE_CHECKING:
    from ocids_emulator.core.emulator import Emulator

LOG = logging.getLogger(__name__)
RULE = "eventsrule"
STREAM = "stream"
STREAM_POOL = "streampool"
PREFIX = "com.oraclecloud.datascience."
CREATE_BEGIN, CREATE_END = PREFIX + "createjobrun.begin", PREFIX + "createjobrun.end"
UPDATE = PREFIX + "updatejobrun"
CANCEL_BEGIN, CANCEL_END = PREFIX + "canceljobrun.begin", PREFIX + "canceljobrun.end"
SUCCEEDED, FAILED = PREFIX + "succeededjobrun", PREFIX + "failedjobrun"
DELETE_BEGIN, DELETE_END = PREFIX + "deletejobrun.begin", PREFIX + "deletejobrun.end"
# What a change of lifecycleState announces. OCI documents no event for ACCEPTED -> IN_PROGRESS
# (unconfirmed) nor for NEEDS_ATTENTION, so neither has one here.
STATE_EVENTS: dict[str, tuple[str, ...]] = {
    "CANCELING": (CANCEL_BEGIN,),
    "CANCELED": (CANCEL_END,),
    "SUCCEEDED": (SUCCEEDED,),
    "FAILED": (FAILED,),
    "DELETED": (DELETE_BEGIN, DELETE_END),
}
# The Events service's own principal: IAM must let it write to a rule's stream or topic
# ("Allow service cloudEvents to use stream-push in ...", OCI's Events and IAM Policies).
EVENTS_SERVICE = "cloudevents"
# What the Events service needs per action type (resource type, verb).
ACTION_PERMISSIONS = {"OSS": ("stream-push", "use"), "ONS": ("ons-topics", "use")}
# OCI's reference envelope spells the payload's free-form tags freeFormTags (Contents of an Event
# Message); a condition names fields exactly as the event does, so data.freeformTags matches nothing.
TAGS_FIELD = "freeFormTags"
# Envelope attributes a condition may test (OCI matches any of the envelope's attributes).
CONDITION_KEYS = frozenset(
    {"eventType", "source", "cloudEventsVersion", "eventTypeVersion", "contentType", "data", "extensions"}
)


# conditions --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Condition:
    """A rule's condition: each key must match the envelope; a list is any of its values, a value
    may hold ``*`` wildcards, an object matches the envelope's object key by key."""

    spec: Mapping[str, Any]

    def matches(self, envelope: Mapping[str, Any]) -> bool:
        return _matches(self.spec, envelope)


def parse_condition(text: Any) -> Condition:
    """The JSON text OCI takes; a malformed one is a 400 naming the part that is wrong."""
    if not isinstance(text, str) or not text.strip():
        raise invalid("condition must be a JSON object in a string, e.g. '{\"eventType\": [...]}'")
    try:
        spec = json.loads(text)
    except ValueError as exc:
        raise invalid(f"condition is not valid JSON: {exc}") from None
    if not isinstance(spec, dict):
        raise invalid("condition must be a JSON object")
    for key, value in spec.items():
        if key not in CONDITION_KEYS:
            raise invalid(
                f"condition.{key} is not an event attribute (known: {', '.join(sorted(CONDITION_KEYS))})"
            )
        if key in ("data", "extensions"):
            _check_object(value, f"condition.{key}")
        else:
            _check_values(value, f"condition.{key}")
    return Condition(spec)


def _check_object(value: Any, where: str, nested: bool = False) -> None:
    if not isinstance(value, dict):
        raise invalid(f"{where} must be an object")
    if nested and not value:
        raise invalid(f"{where} must not be an empty object (leave the key out to match everything)")
    for key, inner in value.items():
        if isinstance(inner, dict):
            _check_object(inner, f"{where}.{key}", nested=True)
        else:
            _check_values(inner, f"{where}.{key}")


def _check_values(value: Any, where: str) -> None:
    values = value if isinstance(value, list) else [value]
    if not values or not all(isinstance(v, str) and v for v in values):
        raise invalid(f"{where} must be a string or a non-empty list of strings")


def _matches(spec: Any, actual: Any) -> bool:
    if isinstance(spec, dict):
        return isinstance(actual, Mapping) and all(
            key in actual and _matches(inner, actual[key]) for key, inner in spec.items()
        )
    wanted = spec if isinstance(spec, list) else [spec]
    return any(_value_matches(w, actual) for w in wanted)


def _value_matches(pattern: str, actual: Any) -> bool:
    if not isinstance(actual, str):
        return False
    if "*" not in pattern:
        return actual == pattern
    # OCI's filters know one wildcard, ``*`` (any run of characters); ``?`` and ``[`` are literal.
    return _wildcard(pattern).fullmatch(actual) is not None


def _wildcard(pattern: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(part) for part in pattern.split("*")), re.DOTALL)


def misspelled_fields(condition: Condition) -> list[str]:
    """Condition paths that name a field OCI's events spell differently (they would match nothing)."""
    data = condition.spec.get("data")
    return ["data.freeformTags"] if isinstance(data, dict) and "freeformTags" in data else []


# envelopes ---------------------------------------------------------------------------------------
def run_envelope(emu: Emulator, run: Mapping[str, Any], event_type: str) -> dict[str, Any]:
    """The CloudEvents 0.1 envelope OCI Events sends for a job run (OCI's field names)."""
    compartment = run.get("compartmentId")
    return {
        "eventType": event_type,
        "cloudEventsVersion": "0.1",
        "eventTypeVersion": "2.0",
        "source": "datascience",
        "eventTime": now_rfc3339(),
        "contentType": "application/json",
        "eventID": str(uuid.uuid4()),
        "extensions": {"compartmentId": compartment},
        "data": {
            "compartmentId": compartment,
            "compartmentName": emu.tenancy.compartments.get(str(compartment), ""),
            "resourceName": run.get("displayName"),
            "resourceId": run.get("id"),
            "availabilityDomain": f"{region_key(emu.region).upper()}-AD-1",
            TAGS_FIELD: run.get("freeformTags") or {},
            "definedTags": run.get("definedTags") or {},
            "additionalDetails": {
                "jobId": run.get("jobId"),
                "projectId": run.get("projectId"),
                "lifecycleState": run.get("lifecycleState"),
                "lifecycleDetails": run.get("lifecycleDetails"),
            },
        },
    }


def transition_types(before: str | None, after: str | None) -> tuple[str, ...]:
    """The event types a run's change from ``before`` (None: created) to ``after`` announces."""
    if before is None:
        return (CREATE_BEGIN, CREATE_END)
    if before == after or after is None:
        return ()
    return STATE_EVENTS.get(after, ())


# routing -----------------------------------------------------------------------------------------
class CloudEvents:
    """Matches each event against the active rules and delivers it to their enabled actions."""

    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        # Parsed conditions by rule id, reparsed when a rule's etag changes.
        self._conditions: dict[str, tuple[str, Condition]] = {}
        self.counts = {
            "emitted": 0,
            "matched": 0,
            "delivered": 0,
            "lost": 0,
            "duplicated": 0,
            "dropped": 0,
            "denied": 0,
        }
        self.recent: deque[dict[str, Any]] = deque(maxlen=1000)
        # Deliveries held back by the eventDelivery faults, so a shutdown can account for them.
        self._held: set[asyncio.TimerHandle] = set()
        self._closed = False

    def run_changed(self, run: Record, before: str | None) -> None:
        for event_type in transition_types(before, run.doc.get("lifecycleState")):
            # OCI's .begin of a delete is sent before the run is gone: it shows the state it had.
            doc = {**run.doc, "lifecycleState": before} if event_type == DELETE_BEGIN else run.doc
            self._emit_safely(doc, event_type)

    def run_updated(self, run: Record) -> None:
        self._emit_safely(run.doc, UPDATE)

    def _emit_safely(self, doc: Mapping[str, Any], event_type: str) -> None:
        # Events ride on every run transition: a fault here must never stop a run from moving.
        try:
            self.emit(run_envelope(self.emu, doc, event_type))
        except Exception:
            LOG.exception("emitting %s for %s failed", event_type, doc.get("id"))

    def emit(self, envelope: dict[str, Any]) -> None:
        if self._closed:
            return
        self.counts["emitted"] += 1
        shown = {
            "eventID": envelope["eventID"],
            "eventType": envelope["eventType"],
            "resourceId": envelope["data"].get("resourceId"),
            "eventTime": envelope["eventTime"],
            "deliveries": 0,
        }
        self.recent.append(shown)
        for rule in self._matching_rules(envelope):
            self.counts["matched"] += 1
            for action in rule.doc.get("actions", {}).get("actions", []):
                if action.get("isEnabled", True):
                    self._deliver(action, envelope, shown)

    def _matching_rules(self, envelope: Mapping[str, Any]) -> list[Record]:
        compartment = envelope["data"].get("compartmentId")
        found = []
        for rule in self.emu.store.all(RULE):
            doc = rule.doc
            if doc.get("lifecycleState") != "ACTIVE" or not doc.get("isEnabled"):
                continue
            # A rule sees its compartment's events; the root compartment's sees every compartment's.
            if doc.get("compartmentId") not in (compartment, self.emu.tenancy.tenancy_id):
                continue
            if self._condition(rule).matches(envelope):
                found.append(rule)
        return found

    def _condition(self, rule: Record) -> Condition:
        etag = str(rule.meta.get("etag"))
        cached = self._conditions.get(rule.id)
        if cached is None or cached[0] != etag:
            cached = (etag, parse_condition(rule.doc.get("condition")))
            self._conditions[rule.id] = cached
        return cached[1]

    def _deliver(self, action: Mapping[str, Any], envelope: dict[str, Any], shown: dict[str, Any]) -> None:
        plan = self.emu.faults.event_plan(str(envelope["eventType"]))
        if not plan:
            self.counts["lost"] += 1
            return
        if len(plan) > 1:
            self.counts["duplicated"] += len(plan) - 1
        for delay in plan:
            if delay <= 0:
                self._send(action, envelope, shown)
                continue
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                self._send(action, envelope, shown)
            else:
                self._hold(loop, delay, action, envelope, shown)

    def _hold(
        self,
        loop: asyncio.AbstractEventLoop,
        delay: float,
        action: Mapping[str, Any],
        envelope: dict[str, Any],
        shown: dict[str, Any],
    ) -> None:
        def release() -> None:
            self._held.discard(handle)
            self._send(action, envelope, shown)

        handle = loop.call_later(delay, release)
        self._held.add(handle)

    @property
    def held(self) -> int:
        """Deliveries the eventDelivery faults hold back right now."""
        return len(self._held)

    def close(self) -> int:
        """Stop delivering (the server shuts down, the store closes next): held deliveries are lost,
        as OCI's would be had the service failed; counted and logged, returned."""
        self._closed = True
        held, self._held = self._held, set()
        for handle in held:
            handle.cancel()
        if held:
            self.counts["lost"] += len(held)
            LOG.warning("%d held event deliveries lost at shutdown", len(held))
        return len(held)

    def _send(self, action: Mapping[str, Any], envelope: dict[str, Any], shown: dict[str, Any]) -> None:
        if self._closed:
            return
        try:
            if not self._service_may(action):
                delivered = False
                self.counts["denied"] += 1
            elif action.get("actionType") == "OSS":
                delivered = self._to_stream(str(action.get("streamId")), envelope)
            elif action.get("actionType") == "ONS":
                self.emu.publish_to_topic(str(action.get("topicId")), envelope)
                delivered = True
            else:
                delivered = False
        except Exception:
            LOG.exception("delivering event %s failed", envelope.get("eventID"))
            delivered = False
        if delivered:
            self.counts["delivered"] += 1
            shown["deliveries"] += 1
        else:
            self.counts["dropped"] += 1

    def _service_may(self, action: Mapping[str, Any]) -> bool:
        """IAM for the Events service itself: it writes to the stream (``use stream-push``) or
        publishes to the topic (``use ons-topics``) where that lives; refused, the delivery is
        dropped and the denial recorded, as OCI drops it (the rule shows nothing)."""
        policies = self.emu.policies
        kind = str(action.get("actionType"))
        if policies.statements is None or kind not in ACTION_PERMISSIONS:
            return True
        resource_type, verb = ACTION_PERMISSIONS[kind]
        if kind == "OSS":
            target_id = str(action.get("streamId"))
            record = self.emu.store.get(STREAM, target_id)
            target = {"target.stream.id": target_id}
        else:
            target_id = str(action.get("topicId"))
            record = self.emu.store.get(TOPIC, target_id)
            target = {}
        compartment = record.doc.get("compartmentId") if record is not None else None
        principal = service_principal(EVENTS_SERVICE, self.emu.tenancy.tenancy_id)
        operation = "put_messages" if kind == "OSS" else "publish_message"
        if policies.allows(principal, resource_type, verb, compartment, operation, target):
            return True
        # The statement that is missing; a where on the stream is one way to grant it, not required.
        self.emu.record_denial(principal, operation, permission_text(resource_type, verb, compartment))
        return False

    def _to_stream(self, stream_id: str, envelope: Mapping[str, Any]) -> bool:
        stream = self.emu.store.get(STREAM, stream_id)
        if stream is None or stream.doc.get("lifecycleState") != "ACTIVE":
            return False
        key = str(envelope["data"].get("resourceId") or "").encode() or None
        self.emu.stream_log.put(stream_id, int(stream.doc["partitions"]), key, json.dumps(envelope).encode())
        return True

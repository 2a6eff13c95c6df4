"""OCI Events about job runs, as hints: the envelope's few fields the operator trusts to look, and
the dedupe of their eventIDs. Pure.

An event never writes status by itself: it only names a run worth one read (workflows/event_intake.py).
So only what routes that read is taken from it (the type, the run, its compartment, the eventID);
a forged or replayed envelope costs at most that read.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime
from collections.abc import Iterable, Mapping
from typing import Any

from .times import parse_time

RUN_EVENT_PREFIX = "com.oraclecloud.datascience."
# Ids kept for dedupe: OCI Notifications retries for up to 2 h, so a redelivery may come that late.
SEEN_MAX_IDS = 50_000
SEEN_MAX_SECONDS = 3 * 3600.0


class InvalidEvent(ValueError):
    """An envelope without a field the operator needs; `field` names it (dotted)."""

    def __init__(self, field: str, problem: str = "missing") -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field


@dataclasses.dataclass(frozen=True)
class EventHint:
    event_id: str
    event_type: str
    resource_id: str
    compartment_id: str
    event_time: datetime.datetime | None = None


def _text(doc: Mapping[str, Any], *path: str) -> str:
    value: Any = doc
    for key in path:
        value = value.get(key) if isinstance(value, Mapping) else None
    if not isinstance(value, str) or not value.strip():
        raise InvalidEvent(".".join(path), "missing" if value in (None, "") else "not a string")
    return value.strip()


def parse_envelope(doc: Mapping[str, Any]) -> EventHint:
    """The hint a CloudEvents envelope carries. Raises InvalidEvent naming the field it lacks."""
    if not isinstance(doc, Mapping):
        raise InvalidEvent("(envelope)", "not a JSON object")
    event_type = _text(doc, "eventType")
    event_id = _text(doc, "eventID")
    resource_id = _text(doc, "data", "resourceId")
    try:
        compartment = _text(doc, "data", "compartmentId")
    except InvalidEvent:
        compartment = _text(doc, "extensions", "compartmentId")
    raw_time = doc.get("eventTime")
    return EventHint(
        event_id=event_id,
        event_type=event_type,
        resource_id=resource_id,
        compartment_id=compartment,
        event_time=parse_time(raw_time) if isinstance(raw_time, str) else None,
    )


def is_run_event(event_type: str) -> bool:
    """A Data Science job-run event (com.oraclecloud.datascience.*jobrun*)."""
    return event_type.startswith(RUN_EVENT_PREFIX) and "jobrun" in event_type[len(RUN_EVENT_PREFIX) :]


def announces_end(event_type: str, end_types: Iterable[str]) -> bool:
    """Whether this type is one that gets a confirming read (OCIDS_EVENTS_RUN_END_TYPES)."""
    return event_type in set(end_types)


class SeenEvents:
    """eventIDs already taken, bounded by count and age (the oldest forgotten first)."""

    def __init__(self, max_ids: int = SEEN_MAX_IDS, max_seconds: float = SEEN_MAX_SECONDS) -> None:
        self._max_ids = max_ids
        self._max_seconds = max_seconds
        self._ids: collections.OrderedDict[str, float] = collections.OrderedDict()

    def __len__(self) -> int:
        return len(self._ids)

    def first_time(self, event_id: str, now: float) -> bool:
        """True the first time an id is offered (and remembers it); False for a repeat."""
        self._forget_old(now)
        if event_id in self._ids:
            return False
        self._ids[event_id] = now
        while len(self._ids) > self._max_ids:
            self._ids.popitem(last=False)
        return True

    def _forget_old(self, now: float) -> None:
        while self._ids:
            oldest_id, when = next(iter(self._ids.items()))
            if now - when <= self._max_seconds:
                return
            del self._ids[oldest_id]

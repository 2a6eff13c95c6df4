"""Event envelopes as hints (core/event_hints.py): what is read from them, and the dedupe."""

from __future__ import annotations

from typing import Any

import pytest
from ocids_operator.core.event_hints import (
    InvalidEvent,
    SeenEvents,
    announces_end,
    is_run_event,
    parse_envelope,
)
from ocids_operator.core.phases import goes_back
from ocids_operator.settings import OperatorSettings

ENVELOPE: dict[str, Any] = {
    "eventType": "com.oraclecloud.datascience.succeededjobrun",
    "cloudEventsVersion": "0.1",
    "eventTypeVersion": "2.0",
    "source": "datascience",
    "eventTime": "2026-12-08T01:02:03Z",
    "contentType": "application/json",
    "eventID": "e-1",
    "extensions": {"compartmentId": "ocid1.compartment.oc1..c"},
    "data": {"compartmentId": "ocid1.compartment.oc1..c", "resourceId": "ocid1.datasciencejobrun.oc1..r"},
}


def test_parse_reads_what_routes_the_read() -> None:
    hint = parse_envelope(ENVELOPE)
    assert (hint.event_id, hint.resource_id, hint.compartment_id) == (
        "e-1",
        "ocid1.datasciencejobrun.oc1..r",
        "ocid1.compartment.oc1..c",
    )
    assert hint.event_time is not None and hint.event_time.hour == 1


def test_compartment_from_the_extensions_when_data_has_none() -> None:
    doc = {**ENVELOPE, "data": {"resourceId": "r"}}
    assert parse_envelope(doc).compartment_id == "ocid1.compartment.oc1..c"


@pytest.mark.parametrize(
    ("doc", "field"),
    [
        ({k: v for k, v in ENVELOPE.items() if k != "eventID"}, "eventID"),
        ({**ENVELOPE, "eventType": 7}, "eventType"),
        ({**ENVELOPE, "data": {"compartmentId": "c"}}, "data.resourceId"),
        ({**ENVELOPE, "data": "x", "extensions": {}}, "data.resourceId"),
        ({**ENVELOPE, "data": {"resourceId": "r"}, "extensions": {}}, "extensions.compartmentId"),
        ([], "(envelope)"),
    ],
)
def test_invalid_names_the_field(doc: Any, field: str) -> None:
    with pytest.raises(InvalidEvent) as raised:
        parse_envelope(doc)
    assert raised.value.field == field


@pytest.mark.parametrize(
    ("event_type", "run", "end"),
    [
        ("com.oraclecloud.datascience.succeededjobrun", True, True),
        ("com.oraclecloud.datascience.failedjobrun", True, True),
        ("com.oraclecloud.datascience.canceljobrun.end", True, True),
        ("com.oraclecloud.datascience.canceljobrun.begin", True, False),
        ("com.oraclecloud.datascience.deletejobrun.end", True, True),
        ("com.oraclecloud.datascience.createjobrun.end", True, False),
        ("com.oraclecloud.datascience.updatejobrun", True, False),
        ("com.oraclecloud.datascience.createjob", False, False),
        ("com.oraclecloud.objectstorage.createobject", False, False),
    ],
)
def test_types(event_type: str, run: bool, end: bool) -> None:
    assert is_run_event(event_type) is run
    assert announces_end(event_type, OperatorSettings().events_run_end_types) is end


def test_end_types_are_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OCIDS_EVENTS_RUN_END_TYPES", "a.b, c.d")
    assert OperatorSettings().events_run_end_types == ["a.b", "c.d"]


def test_seen_events_dedupe_bounded_by_count_and_age() -> None:
    seen = SeenEvents(max_ids=3, max_seconds=100)
    assert seen.first_time("a", 0) and not seen.first_time("a", 1)
    for event_id in ("b", "c", "d"):
        assert seen.first_time(event_id, 2)
    assert len(seen) == 3 and seen.first_time("a", 3)  # the oldest was forgotten
    assert not seen.first_time("d", 50)
    assert seen.first_time("d", 200)  # older than max_seconds: forgotten


@pytest.mark.parametrize(
    ("known", "read", "back"),
    [
        ("IN_PROGRESS", "ACCEPTED", True),
        ("CANCELING", "IN_PROGRESS", True),
        ("CANCELING", "NEEDS_ATTENTION", True),
        ("ACCEPTED", "SUCCEEDED", False),
        ("IN_PROGRESS", "NEEDS_ATTENTION", False),
        ("NEEDS_ATTENTION", "IN_PROGRESS", False),
        ("IN_PROGRESS", "SOMETHING_NEW", False),
    ],
)
def test_goes_back(known: str, read: str, back: bool) -> None:
    assert goes_back(known, read) is back

"""OCI Events in the emulator: rule conditions, job-run envelopes, which transitions announce what,
delivery faults, and random simulated durations."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from ocids_emulator.api.data_science import run_effective
from ocids_emulator.api.streaming import messages
from ocids_emulator.config import ADMIN_GROUP, DEFAULT_POLICIES, init_data_dir
from ocids_emulator.core import cloud_events as ce
from ocids_emulator.core import stream_log
from ocids_emulator.core.emulator import RUN, Emulator, Settings, Simulation, policy_set
from ocids_emulator.core.errors import ApiError
from ocids_emulator.core.notifications import TOPIC
from ocids_emulator.faults.event_delivery import EventDelivery
from ocids_emulator.faults.spec import Faults
from ocids_emulator.store.sqlite import Record

COMPARTMENT = "ocid1.compartment.oc1..c1"


def envelope(event_type: str = ce.SUCCEEDED, compartment: str = COMPARTMENT, **tags: str) -> dict[str, Any]:
    return {
        "eventType": event_type,
        "source": "datascience",
        "data": {"compartmentId": compartment, "freeFormTags": dict(tags), "resourceId": "ocid1.run"},
    }


# conditions --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("condition", "event", "matches"),
    [
        ({}, envelope(), True),
        ({"eventType": [ce.SUCCEEDED, ce.FAILED]}, envelope(ce.FAILED), True),
        ({"eventType": ce.SUCCEEDED}, envelope(ce.FAILED), False),
        ({"eventType": "com.oraclecloud.datascience.*jobrun"}, envelope(ce.FAILED), True),
        ({"data": {"compartmentId": [COMPARTMENT]}}, envelope(), True),
        ({"data": {"compartmentId": "ocid1.compartment.oc1..other"}}, envelope(), False),
        ({"data": {"freeFormTags": {"team": ["ml", "ops"]}}}, envelope(team="ops"), True),
        ({"data": {"freeFormTags": {"team": "*"}}}, envelope(team="anything"), True),
        ({"data": {"freeFormTags": {"team": "*"}}}, envelope(), False),
        ({"data": {"freeFormTags": {"team": "ml"}}}, envelope(team="ops"), False),
        ({"eventType": [ce.SUCCEEDED], "data": {"freeFormTags": {"a": "1"}}}, envelope(a="1"), True),
        # Field names as the event spells them (OCI): the SDK-style freeformTags is no event field.
        ({"data": {"freeformTags": {"team": "*"}}}, envelope(team="ml"), False),
        # OCI's only wildcard is *: ? and [..] are literal characters.
        ({"data": {"freeFormTags": {"team": "m?"}}}, envelope(team="ml"), False),
        ({"data": {"freeFormTags": {"team": "m?"}}}, envelope(team="m?"), True),
        ({"data": {"freeFormTags": {"team": "[m]l"}}}, envelope(team="ml"), False),
        ({"data": {"freeFormTags": {"team": "*[x]*"}}}, envelope(team="a[x]b"), True),
        ({"eventType": "com.oraclecloud.datascience.*jobrun.*"}, envelope(ce.CREATE_END), True),
    ],
)
def test_a_condition_matches_as_oci_rules_do(
    condition: dict[str, Any], event: dict[str, Any], matches: bool
) -> None:
    assert ce.parse_condition(json.dumps(condition)).matches(event) is matches


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("{not json", "condition is not valid JSON"),
        ("[]", "condition must be a JSON object"),
        ('{"eventtype": ["x"]}', "condition.eventtype is not an event attribute"),
        ('{"eventType": 3}', "condition.eventType must be a string"),
        ('{"eventType": []}', "condition.eventType must be a string"),
        ('{"data": ["x"]}', "condition.data must be an object"),
        ('{"data": {"freeFormTags": {"team": [1]}}}', "condition.data.freeFormTags.team must be"),
        ('{"data": {"freeFormTags": {}}}', "condition.data.freeFormTags must not be an empty object"),
    ],
)
def test_a_malformed_condition_is_a_400_naming_the_part(text: str, named: str) -> None:
    with pytest.raises(ApiError) as caught:
        ce.parse_condition(text)
    assert caught.value.status == 400 and caught.value.code == "InvalidParameter"
    assert named in caught.value.message


# transitions -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("before", "after", "types"),
    [
        (None, "ACCEPTED", (ce.CREATE_BEGIN, ce.CREATE_END)),
        ("ACCEPTED", "IN_PROGRESS", ()),
        ("IN_PROGRESS", "NEEDS_ATTENTION", ()),
        ("IN_PROGRESS", "SUCCEEDED", (ce.SUCCEEDED,)),
        ("IN_PROGRESS", "FAILED", (ce.FAILED,)),
        ("IN_PROGRESS", "CANCELING", (ce.CANCEL_BEGIN,)),
        ("CANCELING", "CANCELED", (ce.CANCEL_END,)),
        ("SUCCEEDED", "DELETED", (ce.DELETE_BEGIN, ce.DELETE_END)),
        ("SUCCEEDED", "SUCCEEDED", ()),
    ],
)
def test_each_transition_announces_oci_event_types(
    before: str | None, after: str, types: tuple[str, ...]
) -> None:
    assert ce.transition_types(before, after) == types


# the emulator ------------------------------------------------------------------------------------
@pytest.fixture
def emu(tmp_path: Path) -> Iterator[Emulator]:
    init_data_dir(tmp_path / "data")
    emulator = Emulator(Settings(data_dir=tmp_path / "data"))
    yield emulator
    emulator.store.close()


def add_stream(
    emu: Emulator, partitions: int = 1, stream_id: str = "ocid1.stream.s", compartment: str | None = None
) -> str:
    doc = {
        "id": stream_id,
        "name": "events",
        "partitions": partitions,
        "retentionInHours": 24,
        "compartmentId": compartment or next(iter(emu.tenancy.compartments)),
    }
    emu.create(ce.STREAM, doc["id"], {**doc, "lifecycleState": "ACTIVE"})
    return doc["id"]


def add_rule(
    emu: Emulator,
    stream_id: str,
    condition: dict[str, Any],
    compartment: str | None = None,
    rule_id: str = "ocid1.eventrule.r",
) -> None:
    emu.create(
        ce.RULE,
        rule_id,
        {
            "id": rule_id,
            "compartmentId": compartment or next(iter(emu.tenancy.compartments)),
            "lifecycleState": "ACTIVE",
            "isEnabled": True,
            "condition": json.dumps(condition),
            "actions": {"actions": [{"actionType": "OSS", "streamId": stream_id, "isEnabled": True}]},
        },
    )


def add_run(emu: Emulator, state: str = "ACCEPTED") -> Record:
    compartment = next(iter(emu.tenancy.compartments))
    doc = {
        "id": "ocid1.datasciencejobrun.x",
        "compartmentId": compartment,
        "displayName": "run-x",
        "jobId": "ocid1.datasciencejob.j",
        "projectId": "ocid1.datascienceproject.p",
        "lifecycleState": state,
        "freeformTags": {"team": "ml"},
    }
    return emu.create(RUN, doc["id"], doc)


def stream_types(emu: Emulator, stream_id: str) -> list[str]:
    messages = emu.stream_log.read(stream_id, 0, 0, 100, 24)
    return [json.loads(m.value)["eventType"] for m in messages]


def test_the_envelope_has_ocis_cloudevents_fields(emu: Emulator) -> None:
    run = add_run(emu)
    doc = ce.run_envelope(emu, run.doc, ce.CREATE_END)
    assert doc["cloudEventsVersion"] == "0.1" and doc["eventTypeVersion"] == "2.0"
    assert doc["source"] == "datascience" and doc["contentType"] == "application/json"
    assert doc["extensions"] == {"compartmentId": run.doc["compartmentId"]}
    data = doc["data"]
    assert data["resourceId"] == run.id and data["resourceName"] == "run-x"
    assert data["compartmentName"] == emu.tenancy.compartments[run.doc["compartmentId"]]
    # Oracle's reference envelope spells it freeFormTags (Contents of an Event Message).
    assert data["freeFormTags"] == {"team": "ml"} and "freeformTags" not in data
    assert data["additionalDetails"]["jobId"] == "ocid1.datasciencejob.j"
    assert data["additionalDetails"]["lifecycleState"] == "ACCEPTED"
    assert doc["eventID"] != ce.run_envelope(emu, run.doc, ce.CREATE_END)["eventID"]


def test_every_run_transition_reaches_a_matching_rules_stream_keyed_by_the_run(emu: Emulator) -> None:
    stream = add_stream(emu)
    add_rule(emu, stream, {"data": {"freeFormTags": {"team": "ml"}}})
    run = add_run(emu)
    emu.save(run, lifecycleState="IN_PROGRESS")
    emu.save(run, lifecycleState="SUCCEEDED")
    emu.save(run, lifecycleDetails="still succeeded")
    assert stream_types(emu, stream) == [ce.CREATE_BEGIN, ce.CREATE_END, ce.SUCCEEDED]
    assert {m.key for m in emu.stream_log.read(stream, 0, 0, 100, 24)} == {run.id.encode()}


def test_a_run_ended_by_restart_recovery_announces_its_end(emu: Emulator) -> None:
    stream = add_stream(emu)
    add_rule(emu, stream, {"eventType": [ce.FAILED]})
    run = add_run(emu, "IN_PROGRESS")
    emu.recover_after_restart()
    assert emu.require(RUN, run.id).doc["lifecycleState"] == "FAILED"
    assert stream_types(emu, stream) == [ce.FAILED]


def test_a_rule_sees_only_its_compartment_but_the_root_sees_all(emu: Emulator) -> None:
    elsewhere, root = add_stream(emu, stream_id="ocid1.stream.elsewhere"), add_stream(emu)
    add_rule(emu, elsewhere, {}, compartment="ocid1.compartment.oc1..elsewhere", rule_id="ocid1.eventrule.e")
    add_run(emu)
    assert stream_types(emu, elsewhere) == []
    add_rule(emu, root, {}, compartment=emu.tenancy.tenancy_id, rule_id="ocid1.eventrule.root")
    emu.save(emu.require(RUN, "ocid1.datasciencejobrun.x"), lifecycleState="FAILED")
    assert stream_types(emu, root) == [ce.FAILED]
    # The other compartment's rule, still active, stays silent.
    assert stream_types(emu, elsewhere) == [] and emu.cloud_events.counts["matched"] == 1


def test_a_lost_event_never_reaches_the_stream_and_is_counted(emu: Emulator) -> None:
    stream = add_stream(emu)
    add_rule(emu, stream, {})
    emu.set_faults(Faults.from_dict({"eventDelivery": {"lossRate": 1.0, "eventTypes": [ce.CREATE_BEGIN]}}))
    add_run(emu)
    assert stream_types(emu, stream) == [ce.CREATE_END]
    assert emu.cloud_events.counts["lost"] == 1 and emu.faults.injected == 1


def test_an_onsaction_calls_the_installed_publisher(emu: Emulator) -> None:
    published: list[tuple[str, dict[str, Any]]] = []
    emu.publish_to_topic = lambda topic, body: published.append((topic, body))
    emu.create(
        ce.RULE,
        "ocid1.eventrule.ons",
        {
            "id": "ocid1.eventrule.ons",
            "compartmentId": emu.tenancy.tenancy_id,
            "lifecycleState": "ACTIVE",
            "isEnabled": True,
            "condition": json.dumps({"eventType": ce.CREATE_END}),
            "actions": {"actions": [{"actionType": "ONS", "topicId": "ocid1.onstopic.t", "isEnabled": True}]},
        },
    )
    run = add_run(emu)
    assert [(t, b["eventType"], b["data"]["resourceId"]) for t, b in published] == [
        ("ocid1.onstopic.t", ce.CREATE_END, run.id)
    ]


# delivery faults ---------------------------------------------------------------------------------
def test_delivery_faults_are_seeded_and_replayable() -> None:
    spec = {"lossRate": 0.3, "duplicateRate": 0.3, "delaySeconds": 1.0, "jitterSeconds": 0.5}
    first = EventDelivery.parse(spec, seed=7)
    second = EventDelivery.parse(spec, seed=7)
    plans = [first.plan(ce.SUCCEEDED) for _ in range(200)]
    assert plans == [second.plan(ce.SUCCEEDED) for _ in range(200)]
    assert any(p == [] for p in plans) and any(len(p) == 2 for p in plans)
    assert all(1.0 <= delay <= 1.5 for p in plans for delay in p)


def test_the_reorder_window_holds_events_up_to_the_window() -> None:
    delivery = EventDelivery.parse({"reorderWindowSeconds": 3.0}, seed=1)
    delays = [d for _ in range(100) for d in delivery.plan(ce.SUCCEEDED)]
    assert all(0.0 <= d <= 3.0 for d in delays) and max(delays) > 2.0 and min(delays) < 1.0


def test_event_types_limit_the_faults_to_those_types() -> None:
    delivery = EventDelivery.parse({"lossRate": 1.0, "eventTypes": [ce.SUCCEEDED]})
    assert delivery.plan(ce.SUCCEEDED) == [] and delivery.plan(ce.FAILED) == [0.0]


@pytest.mark.parametrize(
    ("raw", "named"),
    [
        ({"lossRate": 2}, "eventDelivery.lossRate"),
        ({"delaySeconds": -1}, "eventDelivery.delaySeconds"),
        ({"eventTypes": "x"}, "eventDelivery.eventTypes"),
        ({"lossrate": 0.1}, "eventDelivery.lossrate is not a field"),
    ],
)
def test_a_bad_event_delivery_section_names_the_field(raw: dict[str, Any], named: str) -> None:
    with pytest.raises(ApiError, match=named):
        Faults.from_dict({"eventDelivery": raw})


def test_the_faults_spec_shows_the_event_delivery_section() -> None:
    faults = Faults.from_dict({"seed": 3, "eventDelivery": {"duplicateRate": 0.5}})
    assert faults.to_dict()["eventDelivery"]["duplicateRate"] == 0.5
    faults.update({"eventDelivery": None})
    assert faults.to_dict()["eventDelivery"] is None and faults.event_plan(ce.SUCCEEDED) == [0.0]


# simulated durations -----------------------------------------------------------------------------
def test_a_simulated_range_draws_each_runs_duration_from_its_key() -> None:
    ranged = Simulation.parse("120..240:3")
    assert (ranged.duration_s, ranged.max_duration_s, ranged.exit_code) == (120.0, 240.0, 3)
    assert ranged.text() == "120..240:3"
    drawn = [ranged.for_run(f"5:{i}") for i in range(200)]
    assert all(
        120.0 <= d.duration_s <= 240.0 and d.exit_code == 3 and d.max_duration_s is None for d in drawn
    )
    assert len({d.duration_s for d in drawn}) > 150
    assert ranged.for_run("5:1") == drawn[1] and ranged.for_run("6:1") != drawn[1]
    assert Simulation.parse("2:0").for_run("5:1") == Simulation(2.0, 0)


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("240..120", "LO 240 is above HI 120"),
        ("-1", "'-1' must be a finite number of seconds >= 0"),
        ("nan", "'nan' must be a finite number"),
        ("inf", "'inf' must be a finite number"),
        ("1..inf", "'inf' must be a finite number"),
        ("nan..5", "'nan' must be a finite number"),
        ("a..b", "'a' is not a number of seconds"),
        ("1..2:x", "exit code 'x' is not an integer"),
        ("1:256", "exit code 256 must be from 0 to 255"),
        ("1:-1", "exit code -1 must be from 0 to 255"),
    ],
)
def test_a_bad_simulated_value_is_refused_naming_the_value(text: str, named: str) -> None:
    with pytest.raises(ValueError, match=re.escape(named)):
        Simulation.parse(text)


def draw_keys(data_dir: Path, seed: int, count: int) -> list[str]:
    emulator = Emulator(Settings(data_dir=data_dir, simulated_seed=seed))
    try:
        return [emulator.simulation_draw_key() for _ in range(count)]
    finally:
        emulator.store.close()


def test_draw_keys_count_the_runs_made_under_a_seed_and_survive_a_restart(tmp_path: Path) -> None:
    for name in ("a", "b"):
        init_data_dir(tmp_path / name)
    # Two emulators with one seed draw the same sequence, whatever OCIDs their runs get.
    assert draw_keys(tmp_path / "a", 7, 3) == draw_keys(tmp_path / "b", 7, 3) == ["7:0", "7:1", "7:2"]
    # A restart goes on counting (no run repeats an earlier one's duration) ...
    assert draw_keys(tmp_path / "a", 7, 1) == ["7:3"]
    # ... and a new seed starts its sequence over.
    assert draw_keys(tmp_path / "a", 8, 2) == ["8:0", "8:1"]


def test_each_node_group_of_a_run_draws_its_own_duration(emu: Emulator) -> None:
    emu.settings.simulated = Simulation.parse("10..20:0")
    keys = run_effective.DrawKeys(emu)
    assert (keys.key("a"), keys.key("b"), keys.key(None)) == ("0:0:a", "0:0:b", "0:0")
    assert run_effective.DrawKeys(emu).key("a") == "0:1:a"
    ranged = emu.settings.simulated
    assert ranged.for_run("0:0:a") != ranged.for_run("0:0:b")


# delete, IAM, shutdown, reseed -------------------------------------------------------------------
def test_the_delete_begin_event_shows_the_state_before_the_delete(emu: Emulator) -> None:
    stream = add_stream(emu)
    add_rule(emu, stream, {"eventType": [ce.DELETE_BEGIN, ce.DELETE_END]})
    run = add_run(emu, "SUCCEEDED")
    emu.save(run, lifecycleState="DELETED")
    states = [
        (json.loads(m.value)["eventType"], json.loads(m.value)["data"]["additionalDetails"]["lifecycleState"])
        for m in emu.stream_log.read(stream, 0, 0, 100, 24)
    ]
    assert states == [(ce.DELETE_BEGIN, "SUCCEEDED"), (ce.DELETE_END, "DELETED")]


def set_policies(emu: Emulator, *statements: str) -> None:
    emu.policies = policy_set(
        emu.tenancy, [f"Allow group {ADMIN_GROUP} to manage all-resources in tenancy", *statements]
    )


def test_events_deliver_only_where_iam_lets_the_events_service_push(emu: Emulator) -> None:
    compartment = next(iter(emu.tenancy.compartments))
    stream = add_stream(emu, compartment=compartment)
    add_rule(emu, stream, {})
    set_policies(emu)
    add_run(emu)
    assert stream_types(emu, stream) == []
    assert emu.cloud_events.counts["denied"] == 2 and emu.cloud_events.counts["delivered"] == 0
    denial = emu.denials[-1]
    assert denial["principalType"] == "service" and denial["principalId"] == "cloudevents"
    assert denial["needs"] == f"use stream-push in compartment id {compartment}"
    # A grant in another compartment is not one in the stream's.
    set_policies(
        emu, "Allow service cloudEvents to use stream-push in compartment id ocid1.compartment.oc1..x"
    )
    emu.save(emu.require(RUN, "ocid1.datasciencejobrun.x"), lifecycleState="FAILED")
    assert stream_types(emu, stream) == []
    set_policies(emu, f"Allow service cloudEvents to use stream-push in compartment id {compartment}")
    emu.save(emu.require(RUN, "ocid1.datasciencejobrun.x"), lifecycleState="DELETED")
    assert stream_types(emu, stream) == [ce.DELETE_BEGIN, ce.DELETE_END]
    set_policies(
        emu, f"Allow service cloudEvents to use stream-push in tenancy where target.stream.id = '{stream}'"
    )
    emu.cloud_events.run_updated(emu.require(RUN, "ocid1.datasciencejobrun.x"))
    assert stream_types(emu, stream)[-1] == ce.UPDATE


def test_the_default_policies_let_events_reach_streams_and_topics(emu: Emulator) -> None:
    emu.policies = policy_set(emu.tenancy, list(DEFAULT_POLICIES))
    stream = add_stream(emu)
    add_rule(emu, stream, {})
    add_run(emu)
    assert stream_types(emu, stream) == [ce.CREATE_BEGIN, ce.CREATE_END]
    assert emu.cloud_events.counts["denied"] == 0


def add_ons_rule(emu: Emulator, topic_id: str) -> None:
    emu.create(
        ce.RULE,
        "ocid1.eventrule.ons",
        {
            "id": "ocid1.eventrule.ons",
            "compartmentId": emu.tenancy.tenancy_id,
            "lifecycleState": "ACTIVE",
            "isEnabled": True,
            "condition": json.dumps({"eventType": ce.CREATE_END}),
            "actions": {"actions": [{"actionType": "ONS", "topicId": topic_id, "isEnabled": True}]},
        },
    )


def test_an_ons_action_needs_the_events_service_to_use_the_topic(emu: Emulator) -> None:
    published: list[str] = []
    emu.publish_to_topic = lambda topic, body: published.append(topic)
    compartment = next(iter(emu.tenancy.compartments))
    emu.create(TOPIC, "ocid1.onstopic.t", {"id": "ocid1.onstopic.t", "compartmentId": compartment})
    add_ons_rule(emu, "ocid1.onstopic.t")
    set_policies(emu, "Allow service cloudEvents to use stream-push in tenancy")
    add_run(emu)
    assert published == [] and emu.denials[-1]["needs"] == f"use ons-topics in compartment id {compartment}"
    set_policies(emu, f"Allow service cloudEvents to use ons-topics in compartment id {compartment}")
    emu.cloud_events.run_changed(emu.require(RUN, "ocid1.datasciencejobrun.x"), None)
    assert published == ["ocid1.onstopic.t"]


def test_held_deliveries_are_counted_lost_at_shutdown_and_never_fire(emu: Emulator) -> None:
    stream = add_stream(emu)
    add_rule(emu, stream, {})
    emu.set_faults(Faults.from_dict({"eventDelivery": {"delaySeconds": 0.05}}))

    async def scenario() -> int:
        add_run(emu)
        assert emu.cloud_events.held == 2
        lost = emu.cloud_events.close()
        await asyncio.sleep(0.15)
        return lost

    assert asyncio.run(scenario()) == 2
    assert emu.cloud_events.counts["lost"] == 2 and emu.cloud_events.held == 0
    assert stream_types(emu, stream) == [] and emu.cloud_events.counts["delivered"] == 0


def test_a_new_seed_replays_the_event_delivery_faults() -> None:
    faults = Faults.from_dict({"seed": 1, "eventDelivery": {"lossRate": 0.5, "jitterSeconds": 1.0}})
    first = [faults.event_plan(ce.SUCCEEDED) for _ in range(30)]
    faults.update({"seed": 1})
    assert [faults.event_plan(ce.SUCCEEDED) for _ in range(30)] == first
    faults.update({"seed": 2})
    assert [faults.event_plan(ce.SUCCEEDED) for _ in range(30)] != first


# streaming cursors -------------------------------------------------------------------------------
def test_a_cursor_expires_after_cursor_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    assert messages.read_cursor(messages.make_cursor("s", 0, 4), "s") == (0, 4)
    monkeypatch.setattr(messages, "CURSOR_SECONDS", -1)
    with pytest.raises(ApiError, match="cursor has expired"):
        messages.read_cursor(messages.make_cursor("s", 0, 4), "s")


def test_an_offset_older_than_retention_is_a_400(emu: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    stream = emu.require(ce.STREAM, add_stream(emu))
    for value in (b"a", b"b", b"c"):
        emu.stream_log.put(stream.id, 1, None, value)
    after = {"type": "AFTER_OFFSET", "offset": 0}
    assert messages.cursor_offset(emu, stream, 0, after) == 1
    # A day and an hour on, the 24 h retention has dropped every message: offsets 0..2 are gone.
    later = time.time() + 25 * 3600
    monkeypatch.setattr(stream_log, "time", SimpleNamespace(time=lambda: later))
    with pytest.raises(ApiError) as caught:
        messages.cursor_offset(emu, stream, 0, after)
    assert caught.value.status == 400 and "offset 0 is out of range" in caught.value.message
    assert messages.cursor_offset(emu, stream, 0, {"type": "TRIM_HORIZON"}) == 3


def test_the_get_messages_limit_is_per_partition_and_refills_each_second() -> None:
    limit = stream_log.RateLimit(5)
    one, two = ("s", 0), ("s", 1)
    assert [limit.allow(one, 10.0) for _ in range(6)] == [True] * 5 + [False]
    assert limit.allow(two, 10.0)
    assert not limit.allow(one, 10.1) and limit.allow(one, 10.3)
    assert all(limit.allow(one, 12.0) for _ in range(5))
    unlimited = stream_log.RateLimit(0)
    assert all(unlimited.allow(one, 0.0) for _ in range(100))

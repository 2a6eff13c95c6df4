"""OCI Events in the emulator through the real SDK: rules (EventsClient) whose OSS action puts job-run
events on a stream read with StreamClient cursors; delivery faults (loss, duplicates, reordering)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import oci
import pytest
from emulator_support import make_job, run_details, wait_for, wait_run
from oci.events import models as E
from oci.streaming import models as S
from ocids_emulator.testing import RunningEmulator, running_emulator

P = "com.oraclecloud.datascience."
RUN_TYPES = [
    P + "createjobrun.begin",
    P + "createjobrun.end",
    P + "succeededjobrun",
    P + "failedjobrun",
    P + "canceljobrun.begin",
    P + "canceljobrun.end",
    P + "deletejobrun.begin",
    P + "deletejobrun.end",
    P + "updatejobrun",
]


@pytest.fixture
def emu(tmp_path: Path) -> Iterator[RunningEmulator]:
    with running_emulator(tmp_path / "emulator", simulated="0.3:0") as running:
        yield running


def make_stream(emu: RunningEmulator) -> Any:
    admin = emu.stream_admin_client(retries=False)
    details = S.CreateStreamDetails(name="run-events", partitions=2, compartment_id=emu.ids["COMPARTMENT_ID"])
    return admin.create_stream(details).data


def rule_details(stream_id: str, condition: dict[str, Any], compartment: str, **more: Any) -> Any:
    action = E.CreateStreamingServiceActionDetails(is_enabled=True, stream_id=stream_id)
    return E.CreateRuleDetails(
        display_name="job-runs",
        is_enabled=True,
        condition=json.dumps(condition),
        compartment_id=compartment,
        actions=E.ActionDetailsList(actions=[action]),
        **more,
    )


class Reader:
    """Reads every partition of a stream from the start, as a consumer keeps cursors."""

    def __init__(self, emu: RunningEmulator, stream: Any) -> None:
        self.client = emu.stream_client(stream.messages_endpoint, retries=False)
        self.stream_id = stream.id
        self.cursors = {
            str(p): self.client.create_cursor(
                stream.id, S.CreateCursorDetails(partition=str(p), type="TRIM_HORIZON")
            ).data.value
            for p in range(stream.partitions)
        }
        self.events: list[dict[str, Any]] = []

    def poll(self) -> list[dict[str, Any]]:
        for partition, current in self.cursors.items():
            response = self.client.get_messages(self.stream_id, current)
            self.cursors[partition] = response.headers["opc-next-cursor"]
            for message in response.data:
                doc = json.loads(base64.b64decode(message.value))
                assert base64.b64decode(message.key).decode() == doc["data"]["resourceId"]
                self.events.append(doc)
        return self.events

    def types(self, run_id: str) -> list[str]:
        return [e["eventType"] for e in self.poll() if e["data"]["resourceId"] == run_id]


def start_run(emu: RunningEmulator, job: Any, **more: Any) -> Any:
    client = emu.datascience_client(retries=False)
    return client.create_job_run(run_details(emu.ids, job.id, **more)).data


def test_rules_are_created_read_updated_listed_and_deleted(emu: RunningEmulator) -> None:
    events = emu.events_client(retries=False)
    stream = make_stream(emu)
    compartment = emu.ids["COMPARTMENT_ID"]
    rule = events.create_rule(rule_details(stream.id, {"eventType": RUN_TYPES}, compartment)).data
    assert rule.lifecycle_state == "ACTIVE" and rule.is_enabled
    action = rule.actions.actions[0]
    assert (action.action_type, action.stream_id, action.lifecycle_state) == ("OSS", stream.id, "ACTIVE")
    assert json.loads(events.get_rule(rule.id).data.condition) == {"eventType": RUN_TYPES}
    updated = events.update_rule(rule.id, E.UpdateRuleDetails(is_enabled=False, description="paused")).data
    assert (updated.is_enabled, updated.description) == (False, "paused")
    assert [r.id for r in events.list_rules(compartment, display_name="job-runs").data] == [rule.id]
    events.delete_rule(rule.id)
    assert events.get_rule(rule.id).data.lifecycle_state == "DELETED"
    assert events.list_rules(compartment).data == []


@pytest.mark.parametrize(
    ("condition", "named"),
    [
        ("{", "condition is not valid JSON"),
        ('{"eventType": 5}', "condition.eventType"),
        ('{"data": {"freeformTags": {"team": {}}}}', "condition.data.freeformTags.team"),
    ],
)
def test_a_malformed_condition_is_a_400_naming_the_part(
    emu: RunningEmulator, condition: str, named: str
) -> None:
    events = emu.events_client(retries=False)
    details = rule_details(make_stream(emu).id, {}, emu.ids["COMPARTMENT_ID"])
    details.condition = condition
    with pytest.raises(oci.exceptions.ServiceError) as caught:
        events.create_rule(details)
    assert caught.value.status == 400 and named in caught.value.message
    assert events.list_rules(emu.ids["COMPARTMENT_ID"]).data == []


def test_an_oss_action_needs_an_existing_stream(emu: RunningEmulator) -> None:
    events = emu.events_client(retries=False)
    details = rule_details("ocid1.stream.oc1.iad.missing", {}, emu.ids["COMPARTMENT_ID"])
    with pytest.raises(oci.exceptions.ServiceError) as caught:
        events.create_rule(details)
    assert caught.value.status == 400 and "actions.actions[0].streamId" in caught.value.message


def test_a_job_runs_create_and_end_events_reach_the_stream(emu: RunningEmulator) -> None:
    stream = make_stream(emu)
    compartment = emu.ids["COMPARTMENT_ID"]
    condition = {
        "eventType": RUN_TYPES,
        # Field names as OCI's events spell them: the payload's tags are freeFormTags.
        "data": {"compartmentId": [compartment], "freeFormTags": {"ocids": "*"}},
    }
    emu.events_client(retries=False).create_rule(rule_details(stream.id, condition, compartment))
    client = emu.datascience_client(retries=False)
    job = make_job(client, emu.ids, b"print('hi')\n")
    run = start_run(emu, job, freeform_tags={"ocids": "yes"})
    untagged = start_run(emu, job)
    wait_run(client, run.id)
    reader = Reader(emu, stream)
    wait_for(lambda: len(reader.types(run.id)) == 3, message="three events of the run")
    assert reader.types(run.id) == [P + "createjobrun.begin", P + "createjobrun.end", P + "succeededjobrun"]
    end = next(e for e in reader.events if e["eventType"] == P + "succeededjobrun")
    assert end["data"]["additionalDetails"]["lifecycleState"] == "SUCCEEDED"
    assert end["data"]["compartmentId"] == compartment and end["extensions"]["compartmentId"] == compartment
    assert end["data"]["additionalDetails"]["jobId"] == job.id
    assert len({e["eventID"] for e in reader.events}) == len(reader.events)
    # The rule's tag condition leaves the untagged run out.
    assert reader.types(untagged.id) == []


def test_cancel_update_and_delete_announce_themselves(emu: RunningEmulator) -> None:
    stream = make_stream(emu)
    compartment = emu.ids["COMPARTMENT_ID"]
    emu.events_client(retries=False).create_rule(rule_details(stream.id, {}, compartment))
    client = emu.datascience_client(retries=False)
    job = make_job(client, emu.ids, b"print('hi')\n")
    emu.admin.set_simulated("60:0")
    run = start_run(emu, job)
    client.update_job_run(run.id, oci.data_science.models.UpdateJobRunDetails(display_name="renamed"))
    client.cancel_job_run(run.id)
    wait_run(client, run.id)
    client.delete_job_run(run.id)
    reader = Reader(emu, stream)
    wait_for(lambda: P + "deletejobrun.end" in reader.types(run.id), message="the delete event")
    assert reader.types(run.id) == [
        P + "createjobrun.begin",
        P + "createjobrun.end",
        P + "updatejobrun",
        P + "canceljobrun.begin",
        P + "canceljobrun.end",
        P + "deletejobrun.begin",
        P + "deletejobrun.end",
    ]


def test_a_run_ended_by_a_restart_announces_its_failure(emu: RunningEmulator) -> None:
    stream = make_stream(emu)
    emu.events_client(retries=False).create_rule(rule_details(stream.id, {}, emu.ids["COMPARTMENT_ID"]))
    client = emu.datascience_client(retries=False)
    job = make_job(client, emu.ids, b"print('hi')\n")
    emu.admin.set_simulated("600:0")
    run = start_run(emu, job)
    emu.restart()
    reader = Reader(emu, stream)
    wait_for(lambda: P + "failedjobrun" in reader.types(run.id), message="the failed event after restart")


def test_lost_events_never_arrive_and_duplicates_share_an_event_id(emu: RunningEmulator) -> None:
    stream = make_stream(emu)
    emu.events_client(retries=False).create_rule(rule_details(stream.id, {}, emu.ids["COMPARTMENT_ID"]))
    client = emu.datascience_client(retries=False)
    job = make_job(client, emu.ids, b"print('hi')\n")
    emu.admin.event_delivery(loss_rate=1.0, event_types=[P + "createjobrun.begin"])
    lossy = start_run(emu, job)
    wait_run(client, lossy.id)
    reader = Reader(emu, stream)
    wait_for(lambda: P + "succeededjobrun" in reader.types(lossy.id), message="the end event")
    assert reader.types(lossy.id) == [P + "createjobrun.end", P + "succeededjobrun"]
    assert emu.admin.cloud_events()["counts"]["lost"] == 1
    emu.admin.event_delivery(duplicate_rate=1.0, seed=4)
    doubled = start_run(emu, job)
    wait_run(client, doubled.id)
    wait_for(lambda: len(reader.types(doubled.id)) == 6, message="every event twice")
    ids = [e["eventID"] for e in reader.events if e["data"]["resourceId"] == doubled.id]
    assert len(set(ids)) == 3 and all(ids.count(i) == 2 for i in ids)


def test_a_held_event_is_overtaken_and_the_reorder_window_loses_nothing(emu: RunningEmulator) -> None:
    stream = make_stream(emu)
    emu.events_client(retries=False).create_rule(rule_details(stream.id, {}, emu.ids["COMPARTMENT_ID"]))
    client = emu.datascience_client(retries=False)
    job = make_job(client, emu.ids, b"print('hi')\n")
    # Long runs: the create pair is all each run announces while the test looks.
    emu.admin.set_simulated("600:0")
    emu.admin.event_delivery(delay_seconds=1.0, event_types=[P + "createjobrun.begin"])
    held = start_run(emu, job)
    reader = Reader(emu, stream)
    wait_for(lambda: len(reader.types(held.id)) == 2, message="both create events")
    assert reader.types(held.id) == [P + "createjobrun.end", P + "createjobrun.begin"]
    # Seed 11 holds the second run's begin 0.46 s and its end 0.23 s: delivered out of order.
    emu.admin.event_delivery(reorder_window_seconds=0.5, seed=11)
    runs = [start_run(emu, job) for _ in range(3)]
    wait_for(lambda: all(len(reader.types(r.id)) == 2 for r in runs), message="every held event")
    orders = [reader.types(r.id) for r in runs]
    assert orders[1] == [P + "createjobrun.end", P + "createjobrun.begin"]
    assert all(sorted(order) == [P + "createjobrun.begin", P + "createjobrun.end"] for order in orders)
    assert emu.admin.cloud_events()["counts"]["lost"] == 0


def test_job_delete_holds_and_service_failures_announce_what_oci_would(emu: RunningEmulator) -> None:
    stream = make_stream(emu)
    emu.events_client(retries=False).create_rule(rule_details(stream.id, {}, emu.ids["COMPARTMENT_ID"]))
    client = emu.datascience_client(retries=False)
    job = make_job(client, emu.ids, b"print('hi')\n")
    reader = Reader(emu, stream)

    def barrier() -> None:
        # A run made now ends after every earlier run's execution: its end event is the wait.
        probe = start_run(emu, job)
        wait_for(lambda: P + "succeededjobrun" in reader.types(probe.id), message="the probe run's end")

    # needsAttention: the run's execution ends, its outcome (and its end event) waits for the release.
    emu.admin.needs_attention(next_runs=1)
    attention = start_run(emu, job)
    wait_run(client, attention.id, {"NEEDS_ATTENTION"})
    barrier()
    assert reader.types(attention.id) == [P + "createjobrun.begin", P + "createjobrun.end"]
    emu.admin.clear_needs_attention()
    wait_for(lambda: P + "succeededjobrun" in reader.types(attention.id), message="the released end")

    # stuckCanceling: the cancel begins, its end waits for the release.
    emu.admin.set_simulated("600:0")
    stuck = start_run(emu, job)
    emu.admin.hold_canceling(stuck.id)
    client.cancel_job_run(stuck.id)
    emu.admin.set_simulated("0.3:0")
    barrier()
    assert reader.types(stuck.id)[-1] == P + "canceljobrun.begin"
    emu.admin.release_canceling()
    wait_for(lambda: P + "canceljobrun.end" in reader.types(stuck.id), message="the released cancel")

    # failedRuns: the service's failure is a failedjobrun like any other.
    emu.admin.fail_runs(next_runs=1)
    failed = start_run(emu, job)
    wait_for(lambda: P + "failedjobrun" in reader.types(failed.id), message="the failure event")

    # Deleting the job with its runs announces each run's delete; .begin shows the state before it.
    runs = [attention.id, stuck.id, failed.id]
    probes = {e["data"]["resourceId"] for e in reader.events} - set(runs)
    client.delete_job(job.id, delete_related_job_runs=True)
    everyone = [*runs, *probes]
    wait_for(
        lambda: all(P + "deletejobrun.end" in reader.types(r) for r in everyone), message="every run's delete"
    )
    begins = {
        e["data"]["resourceId"]: e["data"]["additionalDetails"]["lifecycleState"]
        for e in reader.events
        if e["eventType"] == P + "deletejobrun.begin"
    }
    assert begins == {
        attention.id: "SUCCEEDED",
        stuck.id: "CANCELED",
        failed.id: "FAILED",
        **{p: "SUCCEEDED" for p in probes},
    }


def test_an_ons_action_needs_an_existing_topic(emu: RunningEmulator) -> None:
    action = E.CreateNotificationServiceActionDetails(
        is_enabled=True, topic_id="ocid1.onstopic.oc1.iad.missing"
    )
    details = rule_details("unused", {}, emu.ids["COMPARTMENT_ID"])
    details.actions = E.ActionDetailsList(actions=[action])
    with pytest.raises(oci.exceptions.ServiceError) as caught:
        emu.events_client(retries=False).create_rule(details)
    assert caught.value.status == 400 and "actions.actions[0].topicId" in caught.value.message


def test_random_simulated_durations_are_drawn_per_run_within_the_range(tmp_path: Path) -> None:
    def durations(name: str) -> list[float]:
        with running_emulator(tmp_path / name, simulated="0.2..1.2:0", simulated_seed=9) as emu:
            client = emu.datascience_client(retries=False)
            job = make_job(client, emu.ids, b"print('hi')\n")
            runs = [start_run(emu, job) for _ in range(4)]
            drawn = [emu.admin.effective_configuration(r.id)["simulation"]["durationSeconds"] for r in runs]
            for run in runs:
                assert wait_run(client, run.id).lifecycle_state == "SUCCEEDED"
            emu.admin.set_simulated("5..6:1", seed=1)
            later = emu.admin.effective_configuration(start_run(emu, job).id)["simulation"]
            assert 5 <= later["durationSeconds"] <= 6 and later["exitCode"] == 1
            return drawn

    first = durations("one")
    assert all(0.2 <= d <= 1.2 for d in first) and len(set(first)) > 1
    # Another emulator with the same seed: its runs get other OCIDs, and the same durations in turn.
    assert durations("two") == first

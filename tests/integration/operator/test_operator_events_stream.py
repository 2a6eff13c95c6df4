"""Run status pushed by OCI Events through a Streaming stream (issue 19), against the emulator's real
Events rules and Streaming API: an end reaches status in about a second while the poller sleeps the
two-minute fallback; a forged event costs one read and writes nothing; a stream outage brings fast polling
back at once, and slow polling after it."""

from __future__ import annotations

import base64
import json
import re
import time
import uuid
from collections.abc import Callable
from typing import Any

import operator_scripts as scripts
import pytest
from harness_kube import wait_for
from harness_operator import OperatorProcess
from oci.events import models as E
from oci.streaming import models as S
from operator_harness import Scenario

pytestmark = pytest.mark.integration

P = "com.oraclecloud.datascience."
RUN_TYPES = [
    P + t
    for t in (
        "createjobrun.begin",
        "createjobrun.end",
        "succeededjobrun",
        "failedjobrun",
        "canceljobrun.begin",
        "canceljobrun.end",
        "deletejobrun.begin",
        "deletejobrun.end",
        "updatejobrun",
    )
]
FALLBACK_SECONDS = 120


def events_stream(world: Scenario, emulator: Any) -> Any:
    """A stream and an Events rule sending the compartment's job-run events to it (what
    `ocids-operator events setup --create` makes)."""
    admin = emulator.stream_admin_client(retries=False)
    stream = admin.create_stream(
        S.CreateStreamDetails(name="run-events", partitions=2, compartment_id=world.compartment_id)
    ).data
    action = E.CreateStreamingServiceActionDetails(is_enabled=True, stream_id=stream.id)
    emulator.events_client(retries=False).create_rule(
        E.CreateRuleDetails(
            display_name="ocids-job-runs",
            is_enabled=True,
            condition=json.dumps({"eventType": RUN_TYPES, "data": {"compartmentId": [world.compartment_id]}}),
            compartment_id=world.compartment_id,
            actions=E.ActionDetailsList(actions=[action]),
        )
    )
    return stream


def start_with_events(
    world: Scenario, emulator: Any, start_operator: Callable[..., OperatorProcess], **env: str
) -> tuple[OperatorProcess, Any]:
    stream = events_stream(world, emulator)
    op = start_operator(
        {
            "OCIDS_EVENTS_STREAM_ID": stream.id,
            "OCIDS_STREAMING_ENDPOINT": str(emulator.endpoint),
            "OCIDS_EVENTS_POLL_INTERVAL_SECONDS": str(FALLBACK_SECONDS),
            # The status ConfigMap lands in the test's namespace (no Lease: just where it is written).
            "OCIDS_LEADER_ELECTION_NAMESPACE": world.namespace,
            **env,
        }
    )
    world.operator = op
    wait_for(lambda: events_state(world) == "Healthy", timeout=30, message="events healthy")
    return op, stream


def events_state(world: Scenario) -> str | None:
    cm = world.kube.get("configmap", "ocids-operator-events", world.namespace)
    return None if cm is None else str(cm["data"]["state"])


def metric(op: OperatorProcess, name: str, **labels: str) -> float:
    """The sum of a metric's samples whose labels include `labels`."""
    total = 0.0
    for line in op.metrics_text().splitlines():
        match = re.match(rf"^{name}(\{{(.*)\}})? (\S+)$", line)
        if not match:
            continue
        have = dict(re.findall(r'(\w+)="([^"]*)"', match.group(2) or ""))
        if all(have.get(k) == v for k, v in labels.items()):
            total += float(match.group(3))
    return total


def oci_reads(op: OperatorProcess) -> float:
    """The operator's reads of job runs (what a hint's confirmation costs). Other calls (a
    TrainingJob's resync GetJob, the stream's own reads) are not the hint's doing."""
    return sum(metric(op, "ocids_oci_calls_total", operation=o) for o in ("get_job_run", "list_job_runs"))


def gated_run(world: Scenario, name: str) -> tuple[dict[str, Any], Any]:
    world.apply(world.job(f"{name}-job", scripts.GATED, logging={"enabled": False}))
    world.wait_job_active(f"{name}-job")
    release = world.release_file(name)
    world.apply(world.run(name, f"{name}-job", env={"RELEASE_FILE": str(release)}))
    return world.wait_run(name, "InProgress", timeout=60), release


def sleeping_the_fallback(op: OperatorProcess, timeout: float = 30) -> None:
    """Wait until the compartment's poller sleeps the fallback interval (no cycle for a minute or
    more): an end seen within seconds from then on came by its event."""
    wait_for(
        lambda: metric(op, "ocids_poll_wait_seconds") > FALLBACK_SECONDS / 2,
        timeout=timeout,
        message="the poller sleeping the fallback interval",
    )


def seen_phase(world: Scenario, name: str, phase: str, timeout: float) -> float:
    """When status first showed `phase` (looked at as often as kubectl allows)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if ((world.get_run(name) or {}).get("status") or {}).get("phase") == phase:
            return time.time()
        time.sleep(0.05)
    raise AssertionError(f"{name} not {phase} within {timeout}s: {world.get_run(name)}")


def test_an_end_reaches_status_by_its_event_and_a_forged_one_writes_nothing(
    world: Scenario, emulator: Any, start_operator: Callable[..., OperatorProcess]
) -> None:
    op, stream = start_with_events(world, emulator, start_operator)
    run, release = gated_run(world, "evented")
    run_id = run["status"]["jobRunId"]
    sleeping_the_fallback(op)

    # A forged end (anyone allowed to push to the stream): one confirming read, nothing written.
    reads, confirms = oci_reads(op), metric(op, "ocids_events_confirm_reads_total")
    forged = {
        "eventType": P + "succeededjobrun",
        "eventID": str(uuid.uuid4()),
        "eventTime": "2026-01-01T00:00:00Z",
        "data": {"compartmentId": world.compartment_id, "resourceId": run_id},
    }
    producer = emulator.stream_client(stream.messages_endpoint, retries=False)
    producer.put_messages(
        stream.id,
        S.PutMessagesDetails(
            messages=[
                S.PutMessagesDetailsEntry(
                    key=base64.b64encode(run_id.encode()).decode(),
                    value=base64.b64encode(json.dumps(forged).encode()).decode(),
                )
            ]
        ),
    )
    wait_for(
        lambda: metric(op, "ocids_events_confirm_reads_total") == confirms + 1,
        timeout=10,
        message="the forged event's read",
    )
    assert metric(op, "ocids_events_received_total", source="stream", outcome="Hint") == 1
    assert oci_reads(op) - reads == 1
    assert world.get_run("evented")["status"]["phase"] == "InProgress"

    # The real end: status follows its event within seconds (about one on an idle machine; the
    # bound leaves room for a loaded one), while the fallback poll is 120 s away.
    sleeping_the_fallback(op)
    release.touch()
    seen = seen_phase(world, "evented", "Succeeded", timeout=60)
    finished = next(r for r in world.oci_runs() if r.id == run_id).time_finished.timestamp()
    lag = seen - finished
    print(f"status lag by event: {lag:.2f}s")
    assert lag < 15, lag  # far under the 120 s the poller slept: the event brought it
    assert metric(op, "ocids_events_received_total", source="stream", outcome="Hint") == 2
    assert metric(op, "ocids_events_confirm_reads_total") >= confirms + 2  # a GET, or a list page
    assert events_state(world) == "Healthy"


def test_a_stream_outage_polls_fast_at_once_and_slow_again_after(
    world: Scenario, emulator: Any, start_operator: Callable[..., OperatorProcess]
) -> None:
    op, _ = start_with_events(world, emulator, start_operator)
    _, release = gated_run(world, "outage")
    sleeping_the_fallback(op)
    cycles = metric(op, "ocids_poll_cycles_total")

    world.admin.set_faults({"errors": [{"operation": "get_messages", "status": 503, "rate": 1.0}]})
    broken = time.time()
    wait_for(lambda: metric(op, "ocids_poll_cycles_total") > cycles, timeout=30, message="a fast cycle")
    # Seen failing at the next read (1 s), the next cycle one fast interval (1 s) after the last
    # (bounded loosely for a loaded machine: the poller was sleeping 120 s).
    assert time.time() - broken < 15
    wait_for(lambda: events_state(world) == "Failing", timeout=10, message="events failing")
    assert "events: healthy -> failing: GetMessages 503" in op.log_text()
    # An end while the stream cannot be read is found by polling.
    release.touch()
    world.wait_run("outage", "Succeeded", timeout=30)

    _, second = gated_run(world, "after")
    world.admin.set_faults({"errors": []})
    wait_for(lambda: events_state(world) == "Healthy", timeout=15, message="events healthy again")
    assert "events: failing -> healthy" in op.log_text()
    # Back to the fallback: after at most the one cycle already due, none for a while.
    wait_for(lambda: world.get_run("after")["status"]["phase"] == "InProgress", timeout=30)
    sleeping_the_fallback(op)
    second.touch()
    world.wait_run("after", "Succeeded", timeout=30)

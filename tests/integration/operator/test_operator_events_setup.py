"""`ocids-operator events setup --create` against the emulator's Streaming and Events APIs: it makes the
pool, stream and rule once (a second run reuses them), and a run's end then lands on the stream."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from oci.data_science import models as M
from oci.streaming import models as S
from ocids_controlplane.waiting import wait_until
from ocids_emulator.testing import RunningEmulator, running_emulator
from ocids_operator.cli import events_setup

pytestmark = pytest.mark.integration


@pytest.fixture
def emu(tmp_path: Path) -> Iterator[RunningEmulator]:
    with running_emulator(tmp_path / "emulator", simulated="0.5") as running:
        yield running


def start_run(emu: RunningEmulator) -> Any:
    ids, client = emu.ids, emu.datascience_client()
    where = {"project_id": ids["PROJECT_ID"], "compartment_id": ids["COMPARTMENT_ID"]}
    infrastructure = M.StandaloneJobInfrastructureConfigurationDetails(
        shape_name="VM.Standard.E4.Flex",
        subnet_id=ids["SUBNET_ID"],
        block_storage_size_in_gbs=50,
        job_shape_config_details=M.JobShapeConfigDetails(ocpus=1.0, memory_in_gbs=16.0),
    )
    job = client.create_job(
        M.CreateJobDetails(
            display_name="events-setup",
            job_configuration_details=M.DefaultJobConfigurationDetails(),
            job_infrastructure_configuration_details=infrastructure,
            **where,
        )
    ).data
    client.create_job_artifact(job.id, b"print(1)\n", content_disposition="attachment; filename=main.py")
    return client.create_job_run(M.CreateJobRunDetails(job_id=job.id, **where)).data


def setup(emu: RunningEmulator, monkeypatch: pytest.MonkeyPatch, *extra: str) -> tuple[int, str]:
    monkeypatch.setenv("OCIDS_OCI_CONFIG_FILE", emu.config_file)
    monkeypatch.setenv("OCIDS_STREAMING_ENDPOINT", emu.endpoint)
    out = io.StringIO()
    argv = ["--compartment", emu.ids["COMPARTMENT_ID"], "--stream-pool", "events-pool", "--create"]
    code = events_setup.main([*argv, "--events-endpoint", emu.endpoint, *extra], out=out)
    return code, out.getvalue()


def test_create_makes_pool_stream_and_rule_once_and_events_flow(
    emu: RunningEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, first = setup(emu, monkeypatch)
    assert code == 0, first
    assert first.count("created ") == 3 and "OCIDS_EVENTS_STREAM_ID=ocid1.stream" in first
    stream_id = first.split("OCIDS_EVENTS_STREAM_ID=", 1)[1].split()[0]

    code, again = setup(emu, monkeypatch)
    assert code == 0 and "created " not in again and again.count("exists ") == 3
    assert f"OCIDS_EVENTS_STREAM_ID={stream_id}" in again
    compartment = emu.ids["COMPARTMENT_ID"]
    rules = emu.events_client().list_rules(compartment).data
    assert [r.display_name for r in rules if r.lifecycle_state == "ACTIVE"] == ["ocids-operator-job-runs"]

    run = start_run(emu)
    reader = emu.stream_client()
    cursor = reader.create_cursor(
        stream_id, S.CreateCursorDetails(partition="0", type="TRIM_HORIZON")
    ).data.value

    seen: list[str] = []

    def ended() -> bool:
        nonlocal cursor
        response = reader.get_messages(stream_id, cursor)
        cursor = response.headers["opc-next-cursor"]
        for message in response.data:
            doc = json.loads(base64.b64decode(message.value))
            if doc["data"]["resourceId"] == run.id:
                seen.append(doc["eventType"])
        return "com.oraclecloud.datascience.succeededjobrun" in seen

    wait_until(ended, timeout=30, message="the run's end on the stream")


def test_a_rerun_with_a_topic_updates_the_existing_rule(
    emu: RunningEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    from oci.ons import models as N

    code, first = setup(emu, monkeypatch)
    assert code == 0, first
    compartment = emu.ids["COMPARTMENT_ID"]
    control, _ = emu.notification_clients(retries=False)
    topic = control.create_topic(N.CreateTopicDetails(name="run-events", compartment_id=compartment)).data
    code, again = setup(emu, monkeypatch, "--topic", topic.topic_id)
    assert code == 0, again
    assert f"updated rule ocids-operator-job-runs in {compartment}" in again
    assert f"+ONS action {topic.topic_id}" in again
    client = emu.events_client()
    rule_id = next(r.id for r in client.list_rules(compartment).data if r.lifecycle_state == "ACTIVE")
    kinds = {
        (a.action_type, getattr(a, "topic_id", None)) for a in client.get_rule(rule_id).data.actions.actions
    }
    assert ("ONS", topic.topic_id) in kinds and any(kind == "OSS" for kind, _ in kinds)
    code, third = setup(emu, monkeypatch, "--topic", topic.topic_id)
    assert code == 0 and "updated " not in third and third.count("exists ") == 3

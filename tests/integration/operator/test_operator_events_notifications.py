"""Run status pushed by OCI Events through a Notifications topic (issue 19): the emulator's ONS delivers
over HTTPS (a CA the test makes) to the operator's own endpoint. The operator confirms its
subscription; a run's end reaches status by its event while the fallback poll is two minutes away; a
forged notification with the right credentials costs one read and writes nothing; wrong credentials
get 401."""

from __future__ import annotations

import base64
import json
import re
import socket
import ssl
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import operator_scripts as scripts
import pytest
from cryptography.hazmat.primitives import serialization
from harness_kube import wait_for
from harness_operator import OperatorProcess
from oci.events import models as E
from oci.ons import models as N
from ocids_controlplane.pki import make_ca, make_leaf
from operator_harness import Scenario

pytestmark = pytest.mark.integration

P = "com.oraclecloud.datascience."
CREDENTIALS = "ons-user:s3cret"


def _pem(directory: Path, name: str, key: Any, cert: Any) -> tuple[Path, Path]:
    cert_path, key_path = directory / f"{name}.crt", directory / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


@pytest.fixture
def pki(tmp_path: Path) -> dict[str, Path]:
    ca_key, ca_cert = make_ca("ons-test-ca")
    ca_file = tmp_path / "ca.crt"
    ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    cert, key = _pem(
        tmp_path, "operator", *make_leaf(ca_key, ca_cert, "operator", server=True, ips=("127.0.0.1",))
    )
    return {"ca": ca_file, "cert": cert, "key": key}


@pytest.fixture
def emulator(tmp_path: Path, pki: dict[str, Path]) -> Iterator[Any]:
    """This module's emulator trusts the test's CA for its HTTPS deliveries, and retries fast."""
    from ocids_emulator.testing import running_emulator

    extra = ["--notifications-retry-seconds", "30", "--notifications-retry-base-seconds", "0.2"]
    with running_emulator(tmp_path / "emulator", notifications_ca_file=pki["ca"], extra_args=extra) as emu:
        yield emu


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def metric(op: OperatorProcess, name: str, **labels: str) -> float:
    total = 0.0
    for line in op.metrics_text().splitlines():
        match = re.match(rf"^{name}(\{{(.*)\}})? (\S+)$", line)
        if match and all(
            dict(re.findall(r'(\w+)="([^"]*)"', match.group(2) or "")).get(k) == v for k, v in labels.items()
        ):
            total += float(match.group(3))
    return total


def settled_cycles(op: OperatorProcess) -> float:
    """The poll-cycle count once it stops moving for a while (fails the test if it never does)."""
    seen: list[float] = []

    def still() -> bool:  # two readings 1.2 s apart agree
        seen.append(metric(op, "ocids_poll_cycles_total"))
        return len(seen) > 1 and seen[-1] == seen[-2]

    wait_for(still, timeout=30, interval=1.2, message="poll cycles never settled")
    return seen[-1]


def post(port: int, ca: Path, body: dict[str, Any], credentials: str, topic: str) -> int:
    request = urllib.request.Request(
        f"https://127.0.0.1:{port}/ons",
        data=json.dumps(body).encode(),
        method="POST",
        headers={
            "Authorization": "Basic " + base64.b64encode(credentials.encode()).decode(),
            "X-OCI-NS-MessageType": "Notification",
            "X-OCI-NS-TopicOcid": topic,
            "Content-Type": "application/json",
        },
    )
    try:
        with urllib.request.urlopen(
            request, timeout=10, context=ssl.create_default_context(cafile=str(ca))
        ) as r:
            return int(r.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def test_notifications_confirm_deliver_ends_and_refuse_forgeries(
    world: Scenario,
    emulator: Any,
    start_operator: Callable[..., OperatorProcess],
    pki: dict[str, Path],
    tmp_path: Path,
) -> None:
    compartment = world.compartment_id
    control, data = emulator.notification_clients(retries=False)
    topic = control.create_topic(N.CreateTopicDetails(name="run-events", compartment_id=compartment)).data
    credentials_file = tmp_path / "ons-credentials"
    credentials_file.write_text(CREDENTIALS + "\n")
    port = free_port()
    op = start_operator(
        {
            "OCIDS_NOTIFICATIONS_PORT": str(port),
            "OCIDS_NOTIFICATIONS_TLS_CERT_FILE": str(pki["cert"]),
            "OCIDS_NOTIFICATIONS_TLS_KEY_FILE": str(pki["key"]),
            "OCIDS_NOTIFICATIONS_CREDENTIALS_FILE": str(credentials_file),
            "OCIDS_NOTIFICATIONS_TOPIC_IDS": topic.topic_id,
            "OCIDS_NOTIFICATIONS_ENDPOINT": str(emulator.endpoint),
            "OCIDS_EVENTS_POLL_INTERVAL_SECONDS": "120",
            "OCIDS_LEADER_ELECTION_NAMESPACE": world.namespace,
        }
    )
    world.operator = op

    # The operator confirms its own subscription.
    user, password = CREDENTIALS.split(":")
    sub = data.create_subscription(
        N.CreateSubscriptionDetails(
            topic_id=topic.topic_id,
            compartment_id=compartment,
            protocol="CUSTOM_HTTPS",
            endpoint=f"https://{user}:{password}@127.0.0.1:{port}/ons",
        )
    ).data
    wait_for(
        lambda: data.get_subscription(sub.id).data.lifecycle_state == "ACTIVE",
        timeout=20,
        message="the subscription confirmed by the operator",
    )
    emulator.events_client(retries=False).create_rule(
        E.CreateRuleDetails(
            display_name="ocids-job-runs",
            is_enabled=True,
            condition=json.dumps(
                {
                    "eventType": [
                        P + "createjobrun.begin",
                        P + "createjobrun.end",
                        P + "succeededjobrun",
                        P + "failedjobrun",
                    ]
                }
            ),
            compartment_id=compartment,
            actions=E.ActionDetailsList(
                actions=[E.CreateNotificationServiceActionDetails(is_enabled=True, topic_id=topic.topic_id)]
            ),
        )
    )

    world.apply(world.job("ons-job", scripts.GATED, logging={"enabled": False}))
    world.wait_job_active("ons-job")
    release = world.release_file("ons")
    world.apply(world.run("ons", "ons-job", env={"RELEASE_FILE": str(release)}))
    run = world.wait_run("ons", "InProgress", timeout=60)
    run_id = run["status"]["jobRunId"]
    wait_for(
        lambda: (
            (world.kube.get("configmap", "ocids-operator-events", world.namespace) or {})
            .get("data", {})
            .get("state")
            == "Healthy"
        ),
        timeout=20,
        message="events healthy once the create events came through the topic",
    )
    cycles = settled_cycles(op)

    # Wrong credentials: 401, nothing taken.
    forged = {
        "eventType": P + "succeededjobrun",
        "eventID": str(uuid.uuid4()),
        "eventTime": "2026-01-01T00:00:00Z",
        "data": {"compartmentId": compartment, "resourceId": run_id},
    }
    received = metric(op, "ocids_events_received_total", source="notifications")
    assert post(port, pki["ca"], forged, "ons-user:wrong", topic.topic_id) == 401
    assert metric(op, "ocids_events_received_total", source="notifications") == received

    # Right credentials, a followed run that did not end: one confirming read, nothing written.
    confirms = metric(op, "ocids_events_confirm_reads_total")
    assert post(port, pki["ca"], forged, CREDENTIALS, topic.topic_id) == 200
    wait_for(
        lambda: metric(op, "ocids_events_confirm_reads_total") == confirms + 1,
        timeout=10,
        message="the forged event's read",
    )
    assert world.get_run("ons")["status"]["phase"] == "InProgress"

    # The real end, delivered through the topic, reaches status long before the 120 s poll.
    release.touch()
    world.wait_run("ons", "Succeeded", timeout=20)
    assert metric(op, "ocids_poll_cycles_total") == cycles, "no poll cycle found it: its event did"
    assert metric(op, "ocids_events_received_total", source="notifications", outcome="Hint") >= 2

    # `kubectl ocids events` prints what the leader wrote; `runs` ends with the one-line state.
    plugin = str(Path(sys.executable).parent / "kubectl-ocids")
    shown = subprocess.run(
        [plugin, "events", "--operator-namespace", world.namespace, "-n", world.namespace],
        env=op.env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert shown.returncode == 0, shown.stderr
    assert re.search(r"^state: +Healthy$", shown.stdout, re.M) and re.search(
        r"^source: +notifications$", shown.stdout, re.M
    ), shown.stdout
    runs = subprocess.run(
        [plugin, "runs", "--operator-namespace", world.namespace, "-n", world.namespace],
        env=op.env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert runs.returncode == 0 and runs.stdout.splitlines()[-1] == "events: healthy", runs.stdout
    elsewhere = subprocess.run(
        [plugin, "runs", "--operator-namespace", "no-operator-here", "-n", world.namespace],
        env=op.env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert elsewhere.returncode == 0 and "events:" not in elsewhere.stdout, elsewhere.stdout

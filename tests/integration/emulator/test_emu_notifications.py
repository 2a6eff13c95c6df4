"""OCI Notifications in the emulator through the real SDK clients, delivering to a real HTTPS server
the test starts with a CA it makes: confirmation, PublishMessage, Events' ONS action, Basic auth,
retries after a 500, an unverifiable certificate, and giving up on an endpoint that is gone."""

from __future__ import annotations

import base64
import inspect
import json
import re
import ssl
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import oci
import pytest
from cryptography.hazmat.primitives import serialization
from emulator_support import make_job, run_details, wait_for, wait_run
from oci.events import models as E
from oci.ons import models as N
from ocids_controlplane.pki import make_ca, make_leaf
from ocids_emulator.api import notifications
from ocids_emulator.config import ADMIN_GROUP
from ocids_emulator.testing import RunningEmulator, running_emulator
from sdk_contract import Contract, recording, response_type

USER, PASSWORD = "ons-user", "s3cret:pass"
RETRY_SECONDS = 3.0
RETRY_BASE = 0.2


def _pem_files(directory: Path, name: str, key: Any, cert: Any) -> tuple[Path, Path]:
    cert_path, key_path = directory / f"{name}.crt", directory / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


@dataclass
class Pki:
    ca_file: Path
    server_cert: Path
    server_key: Path
    # A certificate for the same host from a CA the emulator does not trust.
    rogue_cert: Path
    rogue_key: Path


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    directory = tmp_path_factory.mktemp("ons-pki")
    ca_key, ca_cert = make_ca("ons-test-ca")
    ca_file = directory / "ca.crt"
    ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    server = _pem_files(
        directory, "server", *make_leaf(ca_key, ca_cert, "receiver", server=True, ips=("127.0.0.1",))
    )
    rogue_key, rogue_ca = make_ca("rogue-ca")
    rogue = _pem_files(
        directory, "rogue", *make_leaf(rogue_key, rogue_ca, "receiver", server=True, ips=("127.0.0.1",))
    )
    return Pki(ca_file, *server, *rogue)


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """An HTTPS endpoint answering each POST with the next scripted status (then 200)."""

    server: ThreadingHTTPServer
    statuses: list[int] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def url(self, path: str = "/ons", *, auth: bool = True) -> str:
        userinfo = f"{USER}:{PASSWORD.replace(':', '%3A')}@" if auth else ""
        return f"https://{userinfo}127.0.0.1:{self.port}{path}"

    def of_type(self, kind: str) -> list[Received]:
        return [r for r in self.received if r.headers.get("x-oci-ns-messagetype") == kind]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def start_receiver(cert: Path, key: Path, statuses: list[int] | None = None) -> Receiver:
    receiver: Receiver

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            headers = {k.lower(): v for k, v in self.headers.items()}
            receiver.received.append(Received(self.path, headers, body))
            status = receiver.statuses.pop(0) if receiver.statuses else 200
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    receiver = Receiver(server, list(statuses or []))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return receiver


@pytest.fixture(scope="module")
def emu(tmp_path_factory: pytest.TempPathFactory, pki: Pki) -> Iterator[RunningEmulator]:
    extra = [
        "--notifications-retry-seconds",
        str(RETRY_SECONDS),
        "--notifications-retry-base-seconds",
        str(RETRY_BASE),
    ]
    with running_emulator(
        tmp_path_factory.mktemp("ons") / "emulator",
        simulated="0.3:0",
        notifications_ca_file=pki.ca_file,
        extra_args=extra,
    ) as running:
        yield running


@pytest.fixture
def receiver(pki: Pki) -> Iterator[Receiver]:
    running = start_receiver(pki.server_cert, pki.server_key)
    yield running
    running.stop()


def make_topic(emu: RunningEmulator, name: str) -> Any:
    control, _ = emu.notification_clients(retries=False)
    details = N.CreateTopicDetails(name=name, compartment_id=emu.ids["COMPARTMENT_ID"])
    return control.create_topic(details).data


def subscribe(emu: RunningEmulator, topic_id: str, endpoint: str) -> Any:
    _, data = emu.notification_clients(retries=False)
    details = N.CreateSubscriptionDetails(
        topic_id=topic_id,
        compartment_id=emu.ids["COMPARTMENT_ID"],
        protocol="CUSTOM_HTTPS",
        endpoint=endpoint,
    )
    return data.create_subscription(details).data


def confirmed(emu: RunningEmulator, receiver: Receiver, topic_id: str) -> Any:
    """A subscription of ``receiver`` to the topic, confirmed through the link it was sent."""
    sub = subscribe(emu, topic_id, receiver.url())
    confirmation = wait_for(lambda: receiver.of_type("SubscriptionConfirmation"), message="confirmation")[0]
    with urllib.request.urlopen(confirmation.headers["x-oci-ns-confirmationurl"], timeout=10) as response:
        assert response.status == 200
    _, data = emu.notification_clients(retries=False)
    assert data.get_subscription(sub.id).data.lifecycle_state == "ACTIVE"
    return sub


def deliveries_of(
    emu: RunningEmulator, subscription_id: str, kind: str = "Notification"
) -> list[dict[str, Any]]:
    return [
        d
        for d in emu.admin.notification_deliveries()
        if d["subscriptionId"] == subscription_id and d["messageType"] == kind
    ]


def test_topics_are_created_read_listed_and_deleted(emu: RunningEmulator) -> None:
    control, data = emu.notification_clients(retries=False)
    topic = make_topic(emu, "crud-topic")
    assert topic.lifecycle_state == "ACTIVE"
    assert topic.api_endpoint == emu.endpoint
    assert control.get_topic(topic.topic_id).data.name == "crud-topic"
    listed = control.list_topics(emu.ids["COMPARTMENT_ID"], name="crud-topic").data
    assert [t.topic_id for t in listed] == [topic.topic_id]
    with pytest.raises(oci.exceptions.ServiceError) as same_name:
        make_topic(emu, "crud-topic")
    assert same_name.value.status == 409
    sub = subscribe(emu, topic.topic_id, "https://127.0.0.1:9/gone")
    assert sub.lifecycle_state == "PENDING"
    assert json.loads(sub.deliver_policy)["backoffRetryPolicy"]["maxRetryDuration"] == RETRY_SECONDS * 1000
    assert [
        s.id for s in data.list_subscriptions(emu.ids["COMPARTMENT_ID"], topic_id=topic.topic_id).data
    ] == [sub.id]
    control.delete_topic(topic.topic_id)
    with pytest.raises(oci.exceptions.ServiceError) as gone:
        control.get_topic(topic.topic_id)
    assert gone.value.status == 404
    assert data.get_subscription(sub.id).data.lifecycle_state == "DELETED"


def test_a_subscription_must_be_an_https_url(emu: RunningEmulator) -> None:
    topic = make_topic(emu, "bad-subscriptions")
    for endpoint, protocol in (("http://127.0.0.1:1/x", "CUSTOM_HTTPS"), ("https://h/x", "EMAIL")):
        _, data = emu.notification_clients(retries=False)
        details = N.CreateSubscriptionDetails(
            topic_id=topic.topic_id,
            compartment_id=emu.ids["COMPARTMENT_ID"],
            protocol=protocol,
            endpoint=endpoint,
        )
        with pytest.raises(oci.exceptions.ServiceError) as bad:
            data.create_subscription(details)
        assert bad.value.status == 400
        assert ("endpoint" if protocol == "CUSTOM_HTTPS" else "protocol") in bad.value.message


def test_a_subscription_is_confirmed_through_the_link_it_is_sent(
    emu: RunningEmulator, receiver: Receiver
) -> None:
    topic = make_topic(emu, "confirm-topic")
    sub = subscribe(emu, topic.topic_id, receiver.url())
    confirmation = wait_for(lambda: receiver.of_type("SubscriptionConfirmation"), message="confirmation")[0]
    headers = confirmation.headers
    assert headers["x-oci-ns-subscriptionid"] == sub.id
    assert headers["x-oci-ns-topicocid"] == topic.topic_id
    assert headers["x-oci-ns-messageid"] and headers["x-oci-ns-timestamp"]
    assert confirmation.json()["ConfirmationURL"] == headers["x-oci-ns-confirmationurl"]
    # Basic auth from the URL's userinfo (percent-decoded), never the userinfo itself in the URL.
    assert headers["authorization"] == "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    _, data = emu.notification_clients(retries=False)
    # Nothing is published to a PENDING subscription.
    data.publish_message(topic.topic_id, N.MessageDetails(body="early"))
    assert data.get_subscription(sub.id).data.lifecycle_state == "PENDING"
    forged = headers["x-oci-ns-confirmationurl"].replace("token=", "token=x")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(forged, timeout=10)
    assert refused.value.code == 404
    # The link is unsigned, as OCI's: a plain GET confirms it.
    with urllib.request.urlopen(headers["x-oci-ns-confirmationurl"], timeout=10) as response:
        result = json.loads(response.read())
    assert result["subscriptionId"] == sub.id and result["topicName"] == "confirm-topic"
    assert PASSWORD not in json.dumps(result)
    assert data.get_subscription(sub.id).data.lifecycle_state == "ACTIVE"
    assert receiver.of_type("Notification") == []


def test_a_published_message_is_delivered_with_ocis_headers(emu: RunningEmulator, receiver: Receiver) -> None:
    topic = make_topic(emu, "publish-topic")
    sub = confirmed(emu, receiver, topic.topic_id)
    _, data = emu.notification_clients(retries=False)
    published = data.publish_message(topic.topic_id, N.MessageDetails(title="t", body='{"hello": 1}')).data
    message = wait_for(lambda: receiver.of_type("Notification"), message="delivery")[0]
    assert message.json() == {"hello": 1}
    assert message.headers["x-oci-ns-messageid"] == published.message_id
    assert message.headers["x-oci-ns-subscriptionid"] == sub.id
    assert message.headers["x-oci-ns-topicocid"] == topic.topic_id
    assert "x-oci-ns-confirmationurl" not in message.headers
    assert message.headers["authorization"].startswith("Basic ")
    shown = wait_for(lambda: [d for d in deliveries_of(emu, sub.id) if d["state"] == "DELIVERED"])[0]
    assert shown["attempts"][0]["status"] == 200
    assert PASSWORD not in json.dumps(emu.admin.notification_deliveries())
    assert shown["endpoint"] == f"https://***@127.0.0.1:{receiver.port}/ons"


def test_a_500_is_retried_until_the_endpoint_takes_the_message(
    emu: RunningEmulator, receiver: Receiver
) -> None:
    topic = make_topic(emu, "retry-topic")
    sub = confirmed(emu, receiver, topic.topic_id)
    receiver.statuses[:] = [500, 503]
    _, data = emu.notification_clients(retries=False)
    data.publish_message(topic.topic_id, N.MessageDetails(body="again"))
    shown = wait_for(
        lambda: [d for d in deliveries_of(emu, sub.id) if d["state"] == "DELIVERED"], timeout=10
    )[0]
    assert [a["status"] for a in shown["attempts"]] == [500, 503, 200]
    bodies = [m.body for m in receiver.of_type("Notification")]
    assert bodies == [b"again"] * 3
    assert len({m.headers["x-oci-ns-messageid"] for m in receiver.of_type("Notification")}) == 1


def test_an_endpoint_that_is_gone_is_retried_then_given_up(emu: RunningEmulator, receiver: Receiver) -> None:
    topic = make_topic(emu, "gone-topic")
    sub = confirmed(emu, receiver, topic.topic_id)
    receiver.stop()
    _, data = emu.notification_clients(retries=False)
    data.publish_message(topic.topic_id, N.MessageDetails(body="lost"))
    started = time.monotonic()
    shown = wait_for(
        lambda: [d for d in deliveries_of(emu, sub.id) if d["state"] == "GAVE_UP"], timeout=RETRY_SECONDS + 10
    )[0]
    # Waits of 0.2, 0.4, 0.8, 1.6 s fit in 3 s: five attempts, the last within the limit.
    assert len(shown["attempts"]) == 5
    assert all("error" in a for a in shown["attempts"])
    assert time.monotonic() - started >= RETRY_SECONDS * 0.9


def test_a_certificate_the_ca_file_does_not_vouch_for_is_refused(emu: RunningEmulator, pki: Pki) -> None:
    rogue = start_receiver(pki.rogue_cert, pki.rogue_key)
    try:
        topic = make_topic(emu, "rogue-topic")
        sub = subscribe(emu, topic.topic_id, rogue.url())
        shown = wait_for(
            lambda: [d for d in deliveries_of(emu, sub.id, "SubscriptionConfirmation") if d["attempts"]],
            message="an attempt",
        )[0]
        assert "certificate" in shown["attempts"][0]["error"].lower()
        assert rogue.received == []
    finally:
        rogue.stop()


def test_an_events_rule_delivers_run_events_through_a_topic(emu: RunningEmulator, receiver: Receiver) -> None:
    topic = make_topic(emu, "events-topic")
    confirmed(emu, receiver, topic.topic_id)
    events = emu.events_client(retries=False)
    action = E.CreateNotificationServiceActionDetails(is_enabled=True, topic_id=topic.topic_id)
    events.create_rule(
        E.CreateRuleDetails(
            display_name="runs-to-ons",
            is_enabled=True,
            condition=json.dumps({"eventType": ["com.oraclecloud.datascience.succeededjobrun"]}),
            compartment_id=emu.ids["COMPARTMENT_ID"],
            actions=E.ActionDetailsList(actions=[action]),
        )
    )
    client = emu.datascience_client(retries=False)
    job = make_job(client, emu.ids, b"print('hi')\n")
    run = client.create_job_run(run_details(emu.ids, job.id)).data
    wait_run(client, run.id)
    message = wait_for(lambda: receiver.of_type("Notification"), message="the run's end event")[0]
    envelope = message.json()
    assert envelope["eventType"] == "com.oraclecloud.datascience.succeededjobrun"
    assert envelope["data"]["resourceId"] == run.id


def test_topics_and_subscriptions_are_separate_iam_resource_types(tmp_path: Path) -> None:
    policies = [f"Allow group {ADMIN_GROUP} to manage ons-topics in tenancy"]
    with running_emulator(tmp_path / "emulator", policies=policies) as limited:
        topic = make_topic(limited, "iam-topic")
        _, data = limited.notification_clients(retries=False)
        assert data.publish_message(topic.topic_id, N.MessageDetails(body="x")).data.message_id
        with pytest.raises(oci.exceptions.ServiceError) as denied:
            subscribe(limited, topic.topic_id, "https://127.0.0.1:9/x")
        assert denied.value.status == 404
        assert "ons-subscriptions" in limited.admin.denials()[-1]["needs"]


_PATH_PARAM = re.compile(r"\{[^}]+\}")
CONTRACT = Contract(N.ons_type_mapping)


def test_routes_are_the_sdks() -> None:
    wrong = []
    for route in notifications.routes():
        # The links' handlers start with "_": not signed operations (their SDK names without it).
        operation, method, path = route.handler.__name__.lstrip("_"), route.method, route.path  # type: ignore[union-attr]
        client_type = (
            oci.ons.NotificationControlPlaneClient
            if hasattr(oci.ons.NotificationControlPlaneClient, operation)
            else oci.ons.NotificationDataPlaneClient
        )
        sdk = getattr(client_type, operation, None)
        if sdk is None:
            wrong.append(f"{operation}: not an ONS operation")
            continue
        text = inspect.getsource(sdk)
        sdk_path = re.search(r'resource_path = "([^"]+)"', text).group(1)  # type: ignore[union-attr]
        sdk_method = re.search(r'method = "([^"]+)"', text).group(1)  # type: ignore[union-attr]
        if (
            _PATH_PARAM.sub("{}", f"/20181201{sdk_path}") != _PATH_PARAM.sub("{}", path)
            or sdk_method != method
        ):
            wrong.append(f"{operation}: emulator {method} {path}, SDK {sdk_method} /20181201{sdk_path}")
    assert wrong == []


def test_every_answer_is_within_the_sdk_contract(emu: RunningEmulator, receiver: Receiver) -> None:
    problems: list[str] = []

    def call(client: Any, operation: str, *args: Any, **kwargs: Any) -> Any:
        with recording(client) as recorder:
            response = getattr(client, operation)(*args, **kwargs)
        declared = response_type(client, operation)
        if declared is not None:
            problems.extend(
                f"{operation}: {p}" for p in CONTRACT.walk(json.loads(recorder.last_body()), declared)
            )
        return response

    control, data = emu.notification_clients(retries=False)
    compartment = emu.ids["COMPARTMENT_ID"]
    topic = call(
        control, "create_topic", N.CreateTopicDetails(name="contract", compartment_id=compartment)
    ).data
    call(control, "get_topic", topic.topic_id)
    call(control, "list_topics", compartment)
    call(control, "update_topic", topic.topic_id, N.TopicAttributesDetails(description="d"))
    details = N.CreateSubscriptionDetails(
        topic_id=topic.topic_id, compartment_id=compartment, protocol="CUSTOM_HTTPS", endpoint=receiver.url()
    )
    sub = call(data, "create_subscription", details).data
    call(data, "get_subscription", sub.id)
    call(data, "list_subscriptions", compartment, topic_id=topic.topic_id)
    call(data, "resend_subscription_confirmation", sub.id)
    link = wait_for(lambda: receiver.of_type("SubscriptionConfirmation"))[0].headers[
        "x-oci-ns-confirmationurl"
    ]
    token = urllib.parse.parse_qs(urllib.parse.urlsplit(link).query)["token"][0]
    result = call(data, "get_confirm_subscription", sub.id, token, "CUSTOM_HTTPS").data
    call(data, "publish_message", topic.topic_id, N.MessageDetails(body="m"))
    call(data, "get_unsubscription", sub.id, token, "CUSTOM_HTTPS")
    assert data.get_subscription(sub.id).data.lifecycle_state == "DELETED"
    assert "/unsubscription?" in result.unsubscribe_url
    call(control, "delete_topic", topic.topic_id)
    assert "\n".join(problems) == ""

"""The OCI Notifications endpoint (workflows/notifications.py): who gets in, which confirmation URLs
are fetched, what reaches the intake."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import aiohttp
import pytest
from ocids_operator.adapters.notifications_server import Delivery, NotificationsServer
from ocids_operator.settings import OperatorSettings
from ocids_operator.workflows.event_intake import EventSource, IntakeOutcome
from ocids_operator.workflows.notifications import NotificationsEndpoint, confirmation_refusal

TOPIC = "ocid1.onstopic.oc1.phx.t1"
CREDS = b"oci:s3cret"
OCI_CONFIRM = "https://notification.us-phoenix-1.oci.oraclecloud.com/20181201/subscriptions/ocid1.onssubscription.oc1.x/confirmation?token=abc"


def settings(**extra: Any) -> OperatorSettings:
    return OperatorSettings(notifications_topic_ids=[TOPIC], **extra)


class Intake:
    def __init__(self) -> None:
        self.offered: list[Any] = []

    def offer(self, doc: Any, source: EventSource) -> IntakeOutcome:
        self.offered.append((doc, source))
        return IntakeOutcome.HINT


def basic(value: bytes) -> str:
    return "Basic " + base64.b64encode(value).decode()


def delivery(
    kind: str = "Notification", auth: bytes = CREDS, topic: str = TOPIC, body: Any = None, **h: str
) -> Delivery:
    headers = {"Authorization": basic(auth), "X-OCI-NS-MessageType": kind, "X-OCI-NS-TopicOcid": topic, **h}
    return Delivery(
        headers=headers, body=json.dumps(body if body is not None else {"eventID": "e1"}).encode()
    )


def endpoint(intake: Intake | None = None, **extra: Any) -> tuple[NotificationsEndpoint, list[str]]:
    fetched: list[str] = []

    async def confirm(url: str) -> int:
        fetched.append(url)
        return 200

    return NotificationsEndpoint(settings(**extra), CREDS, intake, confirm=confirm), fetched


def run(coro: Any) -> Any:
    return asyncio.run(coro)


@pytest.mark.parametrize(
    "auth",
    [b"oci:wrong", b"oci:s3cret2", b"other:s3cret", b""],
)
def test_wrong_credentials_get_401_and_nothing_reaches_the_intake(auth: bytes) -> None:
    intake = Intake()
    ep, _ = endpoint(intake)
    reply = run(ep.handle(delivery(auth=auth)))
    assert reply.status == 401 and "WWW-Authenticate" in reply.headers
    assert intake.offered == []


def test_missing_or_malformed_authorization_is_401() -> None:
    ep, fetched = endpoint(Intake())
    for header in (None, "Bearer x", "Basic !!!notbase64"):
        headers = {
            "X-OCI-NS-MessageType": "SubscriptionConfirmation",
            "X-OCI-NS-TopicOcid": TOPIC,
            "X-OCI-NS-ConfirmationURL": OCI_CONFIRM,
        }
        if header:
            headers["Authorization"] = header
        assert run(ep.handle(Delivery(headers=headers, body=b"{}"))).status == 401
    assert fetched == []


def test_a_notification_is_offered_to_the_intake_as_a_hint() -> None:
    intake = Intake()
    ep, _ = endpoint(intake)
    reply = run(ep.handle(delivery(body={"eventID": "e9", "eventType": "x"})))
    assert (reply.status, reply.text) == (200, "Hint")
    assert intake.offered == [({"eventID": "e9", "eventType": "x"}, EventSource.NOTIFICATIONS)]


def test_a_notification_from_another_topic_or_not_json_is_refused() -> None:
    intake = Intake()
    ep, _ = endpoint(intake)
    assert run(ep.handle(delivery(topic="ocid1.onstopic.oc1.phx.other"))).status == 403
    bad = Delivery(headers=delivery().headers, body=b"[1, 2")
    assert run(ep.handle(bad)).status == 400
    assert intake.offered == []


def test_confirmation_fetches_the_oci_url_for_an_accepted_topic() -> None:
    ep, fetched = endpoint(Intake())

    async def go() -> int:
        reply = await ep.handle(
            delivery("SubscriptionConfirmation", **{"X-OCI-NS-ConfirmationURL": OCI_CONFIRM})
        )
        await ep.drain()
        return reply.status

    assert run(go()) == 200
    assert fetched == [OCI_CONFIRM]


def test_confirmation_url_may_come_from_the_body() -> None:
    ep, fetched = endpoint(Intake())

    async def go() -> None:
        await ep.handle(delivery("SubscriptionConfirmation", body={"ConfirmationURL": OCI_CONFIRM}))
        await ep.drain()

    run(go())
    assert fetched == [OCI_CONFIRM]


def test_confirmation_for_a_topic_not_accepted_is_not_fetched() -> None:
    ep, fetched = endpoint(Intake())

    async def go() -> int:
        reply = await ep.handle(
            delivery(
                "SubscriptionConfirmation",
                topic="ocid1.onstopic.oc1.phx.evil",
                **{"X-OCI-NS-ConfirmationURL": OCI_CONFIRM},
            )
        )
        await ep.drain()
        return reply.status

    assert run(go()) == 403
    assert fetched == []


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/20181201/subscriptions/x/confirmation",
        "https://notification.us-phoenix-1.oci.oraclecloud.com.evil.com/20181201/subscriptions/x/confirmation",
        "https://evil.com/20181201/subscriptions/x/confirmation?h=notification.us-phoenix-1.oci.oraclecloud.com",
        "http://notification.us-phoenix-1.oci.oraclecloud.com/20181201/subscriptions/x/confirmation",
        "https://notification.us-phoenix-1.oci.oraclecloud.com:8443/20181201/subscriptions/x/confirmation",
        "https://user:pw@notification.us-phoenix-1.oci.oraclecloud.com/20181201/subscriptions/x/confirmation",
        "https://notification.us-phoenix-1.oci.oraclecloud.com/20160918/instances",
        "https://objectstorage.us-phoenix-1.oraclecloud.com/20181201/subscriptions/x/confirmation",
        "https://cellx.notification.us-phoenix-1.oci.oraclecloud.com/20181201/subscriptions/x/confirmation",
        "https://evil.cell1.notification.us-phoenix-1.oraclecloud.com/20181201/subscriptions/x/confirmation",
        "https://notification.us-phoenix-1.oraclecloud.com.evil.com/20181201/subscriptions/x/confirmation",
        "http://127.0.0.1:12001/20181201/subscriptions/x/confirmation",
    ],
)
def test_confirmation_urls_elsewhere_are_refused(url: str) -> None:
    assert confirmation_refusal(url, settings(notifications_endpoint="http://127.0.0.1:12000"))
    ep, fetched = endpoint(Intake())
    reply = run(ep.handle(delivery("SubscriptionConfirmation", **{"X-OCI-NS-ConfirmationURL": url})))
    assert reply.status == 403 and fetched == []


@pytest.mark.parametrize(
    "url",
    [
        OCI_CONFIRM,
        "https://cell1.notification.us-phoenix-1.oci.oraclecloud.com/20181201/subscriptions/ocid1.onssubscription.oc1.phx.aaaa/confirmation?token=MDAw&protocol=HTTPS",
        "https://notification.us-ashburn-1.oraclecloud.com/20181201/subscriptions/s/confirmation?token=t",
        "https://cell12.notification.eu-madrid-2.oraclecloud.eu/20181201/subscriptions/s/confirmation?token=t",
        "https://notification.uk-gov-london-1.oci.oraclegovcloud.uk/20181201/subscriptions/s/confirmation?token=t",
        "https://NOTIFICATION.eu-frankfurt-1.oci.oraclecloud.com:443/20181201/subscriptions/s/confirmation",
        "http://127.0.0.1:12000/20181201/subscriptions/ocid1.onssubscription.x/confirmation?token=t",
    ],
)
def test_confirmation_urls_at_oci_or_the_configured_endpoint_are_allowed(url: str) -> None:
    assert confirmation_refusal(url, settings(notifications_endpoint="http://127.0.0.1:12000")) is None


async def _raw_post(port: int, head: str, body: bytes = b"") -> bytes:
    """Send a request's head (and maybe part of its body) and return what the server answers, the
    rest of the body never sent: an answer proves the server did not wait to read it."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(head.encode() + b"\r\n" + body)
        await writer.drain()
        return await asyncio.wait_for(reader.readline(), 5)
    finally:
        writer.close()


def _served(ep: NotificationsEndpoint, test: Any, **server: Any) -> Any:
    async def go() -> Any:
        srv = NotificationsServer(ep.handle, 0, "127.0.0.1", None, authorize=ep.authorize, **server)
        await srv.start()
        try:
            return await test(srv.port)
        finally:
            await srv.stop()

    return run(go())


def test_a_request_without_credentials_is_answered_with_its_body_unread() -> None:
    intake = Intake()
    ep, _ = endpoint(intake)
    head = "POST /events HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n"
    for extra in ("", f"Authorization: {basic(b'oci:wrong')}\r\n"):

        async def test(port: int, extra: str = extra) -> bytes:
            return await _raw_post(port, head + extra, b"{")

        assert _served(ep, test).startswith(b"HTTP/1.1 401")
    assert intake.offered == []


def test_a_body_past_the_limit_gets_413_unread() -> None:
    intake = Intake()
    ep, _ = endpoint(intake)

    async def test(port: int) -> tuple[bytes, int]:
        auth = f"Authorization: {basic(CREDS)}\r\n"
        big = await _raw_post(port, f"POST /e HTTP/1.1\r\nHost: x\r\nContent-Length: 8192\r\n{auth}", b"{")
        async with aiohttp.ClientSession() as session:
            url = f"http://127.0.0.1:{port}/events"
            async with session.post(
                url, data=b'{"eventID": "e2"}', headers=dict(delivery().headers)
            ) as small:
                return big, small.status

    big, small = _served(ep, test, max_body=4096)
    assert big.startswith(b"HTTP/1.1 413") and small == 200
    assert intake.offered == [({"eventID": "e2"}, EventSource.NOTIFICATIONS)]


def test_a_body_that_trickles_in_times_out() -> None:
    intake = Intake()
    ep, _ = endpoint(intake)

    async def test(port: int) -> bytes:
        auth = f"Authorization: {basic(CREDS)}\r\n"
        return await _raw_post(port, f"POST /e HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n{auth}", b"{")

    assert _served(ep, test, read_timeout=0.2).startswith(b"HTTP/1.1 408")
    assert intake.offered == []


def test_a_deeply_nested_body_is_400_not_500() -> None:
    intake = Intake()
    ep, _ = endpoint(intake)
    nested = Delivery(headers=delivery().headers, body=b"[" * 100_000 + b"]" * 100_000)
    assert run(ep.handle(nested)).status == 400
    confirmation = Delivery(headers=delivery("SubscriptionConfirmation").headers, body=nested.body)
    assert run(ep.handle(confirmation)).status == 400
    assert intake.offered == []


def test_a_failed_confirmation_is_retried_and_its_token_never_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    answers = [OSError("down"), 503, 200]
    fetched: list[str] = []

    async def confirm(url: str) -> int:
        fetched.append(url)
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    ep = NotificationsEndpoint(settings(), CREDS, Intake(), confirm=confirm, confirm_delays=(0, 0, 0, 0, 0))

    async def go() -> int:
        reply = await ep.handle(
            delivery("SubscriptionConfirmation", **{"X-OCI-NS-ConfirmationURL": OCI_CONFIRM})
        )
        await ep.drain()
        return reply.status

    with caplog.at_level("INFO"):
        assert run(go()) == 200
    assert fetched == [OCI_CONFIRM] * 3
    assert "try 1 of 5" in caplog.text and "HTTP 503" in caplog.text and "confirmed" in caplog.text
    assert "token=abc" not in caplog.text


def test_start_service_fails_cleanly_on_a_port_in_use_or_bad_credentials(tmp_path: Any) -> None:
    import socket

    from ocids_operator.workflows.notifications import NotificationsStartError, start_service, startup_problem

    creds = tmp_path / "creds"
    creds.write_text("oci:s3cret\n")
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    try:
        port = taken.getsockname()[1]
        config = settings(
            notifications_port=port, notifications_credentials_file=str(creds), bind_address="127.0.0.1"
        )
        assert startup_problem(config) is None
        with pytest.raises(NotificationsStartError, match=f"OCIDS_NOTIFICATIONS_PORT={port}"):
            run(start_service(config, Intake()))
    finally:
        taken.close()
    for content, named in ((None, "cannot be read"), ("no-colon", "must hold user:password")):
        path = tmp_path / "c2"
        if content is not None:
            path.write_text(content)
        config = settings(notifications_port=8443, notifications_credentials_file=str(path))
        problem = startup_problem(config)
        assert problem and "OCIDS_NOTIFICATIONS_CREDENTIALS_FILE" in problem and named in problem
        with pytest.raises(NotificationsStartError, match="OCIDS_NOTIFICATIONS_CREDENTIALS_FILE"):
            run(start_service(config, Intake()))
    (tmp_path / "cert").write_text("not a cert")
    config = settings(
        notifications_port=8443,
        notifications_credentials_file=str(creds),
        notifications_tls_cert_file=str(tmp_path / "cert"),
        notifications_tls_key_file=str(tmp_path / "cert"),
    )
    assert "OCIDS_NOTIFICATIONS_TLS_CERT_FILE" in (startup_problem(config) or "")


def test_rotated_credentials_are_read_again_without_a_restart(tmp_path: Any) -> None:
    import os

    from ocids_operator.workflows.notifications import NotificationsService

    creds = tmp_path / "credentials"
    creds.write_text("oci:s3cret\n")
    now = [0.0]
    config = settings(notifications_port=8443, notifications_credentials_file=str(creds))
    service = NotificationsService(config, Intake(), clock=lambda: now[0])

    def status(value: bytes) -> int:
        refusal = service.server._authorize({"Authorization": basic(value)})  # type: ignore[misc]
        return 200 if refusal is None else refusal.status

    assert (status(b"oci:s3cret"), status(b"oci:rotated")) == (200, 401)
    for content, bump in (("oci:rotated\n", 10), ("no colon\n", 20)):
        creds.write_text(content)
        stat = creds.stat()
        os.utime(creds, ns=(stat.st_atime_ns, stat.st_mtime_ns + bump * 1_000_000_000))
        now[0] += 2
        # A good rotation is taken; a bad one is refused and the last good credentials stay.
        assert (status(b"oci:s3cret"), status(b"oci:rotated")) == (401, 200)


def test_a_rotated_certificate_serves_new_connections_without_a_restart(tmp_path: Any) -> None:
    import os
    import socket
    import ssl

    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from ocids_controlplane.pki import make_ca, make_leaf
    from ocids_operator.workflows.notifications import NotificationsService

    ca_key, ca_cert = make_ca("rotation-ca")
    cert_file, key_file = tmp_path / "tls.crt", tmp_path / "tls.key"

    def issue(name: str, bump: int) -> None:
        key, cert = make_leaf(ca_key, ca_cert, name, server=True, ips=("127.0.0.1",))
        cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_file.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        for path in (cert_file, key_file):
            stat = path.stat()
            os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + bump * 1_000_000_000))

    issue("first", 0)
    creds = tmp_path / "credentials"
    creds.write_text("oci:s3cret")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    now = [0.0]
    config = settings(
        notifications_port=port,
        notifications_credentials_file=str(creds),
        notifications_tls_cert_file=str(cert_file),
        notifications_tls_key_file=str(key_file),
        bind_address="127.0.0.1",
    )
    client = ssl.create_default_context(cadata=ca_cert.public_bytes(serialization.Encoding.PEM).decode())

    async def served_name() -> str:
        _, writer = await asyncio.open_connection("127.0.0.1", port, ssl=client)
        der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
        writer.close()
        name = x509.load_der_x509_certificate(der).subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
        return str(name[0].value)

    async def go() -> list[str]:
        service = NotificationsService(config, Intake(), clock=lambda: now[0])
        await service.start()
        try:
            names = [await served_name()]
            issue("second", 10)
            now[0] += 2
            service.reload_if_changed()
            names.append(await served_name())
            return names
        finally:
            await service.stop()

    assert run(go()) == ["first", "second"]

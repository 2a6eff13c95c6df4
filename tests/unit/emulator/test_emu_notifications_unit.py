"""Notifications delivery's pure parts (URL credentials, redaction, OCI's backoff schedule, headers
and bodies) and the notifier giving up on an endpoint that refuses, without leaking the password."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from ocids_emulator.config import init_data_dir
from ocids_emulator.core.emulator import Emulator, Settings
from ocids_emulator.core.notifications import (
    SUBSCRIPTION,
    TOPIC,
    Notifier,
    confirmation_body,
    delivery_headers,
    redact_url,
    retry_delays,
    split_endpoint,
)

SECRET = "pa%3Ass-w0rd"


async def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Wait for `condition`, failing the test past `timeout` seconds instead of hanging it."""

    async def poll() -> None:
        while not condition():
            await asyncio.sleep(0.01)

    await asyncio.wait_for(poll(), timeout)


def test_the_userinfo_becomes_basic_credentials_and_leaves_the_url() -> None:
    url, auth = split_endpoint(f"https://ops:{SECRET}@hooks.example.com:8443/ons?x=1")
    assert url == "https://hooks.example.com:8443/ons?x=1"
    assert auth == "Basic " + base64.b64encode(b"ops:pa:ss-w0rd").decode()
    assert split_endpoint("https://[::1]:9/p")[1] is None
    assert split_endpoint("https://u:p@[::1]:9/p")[0] == "https://[::1]:9/p"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (f"https://ops:{SECRET}@h.example.com/ons", "https://***@h.example.com/ons"),
        ("https://ops@h.example.com:443/x", "https://***@h.example.com:443/x"),
        ("https://h.example.com/x", "https://h.example.com/x"),
        ("https://a:b@c@h.example.com/x", "https://***@h.example.com/x"),
    ],
)
def test_a_redacted_url_names_no_credentials(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_the_backoff_doubles_to_32_units_within_the_retry_limit() -> None:
    # OCI's schedule: 1, 2, 4 … 32 min for up to 2 h.
    minutes = [d / 60 for d in retry_delays(7200, 60)]
    assert minutes == [1, 2, 4, 8, 16, 32, 32]
    assert sum(minutes) * 60 <= 7200
    assert retry_delays(3.0, 0.2) == pytest.approx([0.2, 0.4, 0.8, 1.6])
    assert retry_delays(0, 1) == []


def test_a_confirmation_carries_its_url_in_a_header_and_in_the_body() -> None:
    link = "https://ons.example/20181201/subscriptions/s/confirmation?token=t&protocol=HTTPS"
    headers = delivery_headers(
        "SubscriptionConfirmation",
        subscription_id="s",
        topic_id="t",
        message_id="m",
        timestamp="2026-01-01T00:00:00.000Z",
        content_type="application/json",
        confirmation_url=link,
    )
    assert headers["X-OCI-NS-MessageType"] == "SubscriptionConfirmation"
    assert headers["X-OCI-NS-ConfirmationURL"] == link
    assert (headers["X-OCI-NS-SubscriptionId"], headers["X-OCI-NS-TopicOcid"]) == ("s", "t")
    assert json.loads(confirmation_body("topic-a", link))["ConfirmationURL"] == link
    plain = delivery_headers(
        "Notification",
        subscription_id="s",
        topic_id="t",
        message_id="m",
        timestamp="x",
        content_type="text/plain",
    )
    assert "X-OCI-NS-ConfirmationURL" not in plain


@pytest.fixture
def emu(tmp_path: Path) -> Iterator[Emulator]:
    init_data_dir(tmp_path / "data")
    emulator = Emulator(
        Settings(
            data_dir=tmp_path / "data", notifications_retry_seconds=0.3, notifications_retry_base_seconds=0.1
        )
    )
    yield emulator
    emulator.store.close()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_refusing_endpoint_is_retried_then_given_up_without_leaking_the_password(
    emu: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    compartment = emu.tenancy.tenancy_id
    emu.create(
        TOPIC,
        "topic",
        {"topicId": "topic", "name": "n", "compartmentId": compartment, "lifecycleState": "ACTIVE"},
    )
    endpoint = f"https://ops:{SECRET}@127.0.0.1:{_closed_port()}/ons"
    doc = {
        "id": "sub",
        "topicId": "topic",
        "endpoint": endpoint,
        "lifecycleState": "ACTIVE",
        "compartmentId": compartment,
    }
    emu.create(SUBSCRIPTION, "sub", doc)
    notifier = Notifier(emu)

    async def publish_and_wait() -> None:
        notifier.publish_event("topic", {"eventID": "e1"})
        await until(lambda: notifier.deliveries[0].finished is not None)
        await notifier.close()

    with caplog.at_level(logging.INFO, logger="ocids_emulator.core.notifications"):
        asyncio.run(publish_and_wait())
    delivery = notifier.deliveries[0]
    assert delivery.state == "GAVE_UP"
    # Waits of 0.1 and 0.2 s fit in 0.3 s: three attempts.
    assert len(delivery.attempts) == 3
    shown = json.dumps(delivery.shown())
    for text in (shown, caplog.text):
        assert SECRET not in text and "pa:ss" not in text
    assert "https://***@127.0.0.1" in caplog.text


def test_a_deleted_subscription_gets_no_more_attempts(emu: Emulator) -> None:
    compartment = emu.tenancy.tenancy_id
    emu.create(
        TOPIC,
        "topic",
        {"topicId": "topic", "name": "n", "compartmentId": compartment, "lifecycleState": "ACTIVE"},
    )
    doc = {
        "id": "sub",
        "topicId": "topic",
        "endpoint": f"https://127.0.0.1:{_closed_port()}/ons",
        "lifecycleState": "ACTIVE",
        "compartmentId": compartment,
    }
    sub = emu.create(SUBSCRIPTION, "sub", doc)
    notifier = Notifier(emu)

    async def publish_then_delete() -> None:
        notifier.publish("topic", b"x", "text/plain")
        await until(lambda: bool(notifier.deliveries[0].attempts))
        emu.save(sub, lifecycleState="DELETED")
        await until(lambda: notifier.deliveries[0].finished is not None)
        await notifier.close()

    asyncio.run(publish_then_delete())
    assert notifier.deliveries[0].state == "DROPPED"
    assert len(notifier.deliveries[0].attempts) == 1

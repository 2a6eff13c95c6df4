"""OCI Notifications' delivery to HTTPS subscriptions, as OCI does it: a POST per message and
subscription with OCI's ``X-OCI-NS-*`` headers, HTTP Basic auth from the endpoint URL's userinfo,
the certificate verified (against ``--notifications-ca-file`` when set), at least once: a non-2xx
answer, a timeout or a refused connection is retried with exponential backoff (OCI: 1, 2, 4 … 32
min; here ``--notifications-retry-base-seconds`` is the unit, 1 s by default) until
``--notifications-retry-seconds`` (OCI's 2 h default) have passed, then the message is dropped.

Deliveries run as background tasks on the server's loop: publishing never waits for a subscriber.
The endpoint's credentials are read from the store at each attempt and never kept, logged or shown:
everything that names an endpoint names it through ``redact_url``.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import ssl
import time
import uuid
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit, urlunsplit

import aiohttp

from ocids_emulator.core.timeutil import now_rfc3339

if TYPE_CHECKING:
    from ocids_emulator.core.emulator import Emulator

LOG = logging.getLogger(__name__)

TOPIC = "onstopic"
SUBSCRIPTION = "onssubscription"
# OCI's custom HTTPS URL protocol is CUSTOM_HTTPS; HTTPS is the older name the console still shows.
HTTPS_PROTOCOLS = frozenset({"HTTPS", "CUSTOM_HTTPS"})
CONFIRMATION = "SubscriptionConfirmation"
NOTIFICATION = "Notification"
ATTEMPT_TIMEOUT_S = 10.0
# OCI's backoff doubles from one unit up to 32 units (1, 2, 4 … 32 min).
MAX_BACKOFF_UNITS = 32
REDACTED = "***"


# pure parts ------------------------------------------------------------------------------------
def split_endpoint(url: str) -> tuple[str, str | None]:
    """The URL without its userinfo, and the Basic ``Authorization`` value the userinfo makes
    (percent-decoded, as browsers send it; None: no userinfo)."""
    parts = urlsplit(url)
    if parts.username is None:
        return url, None
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    bare = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    credentials = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
    return bare, "Basic " + base64.b64encode(credentials.encode()).decode()


def redact_url(url: str) -> str:
    """The URL as logs and admin output show it: any userinfo replaced, so no password leaks."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return REDACTED
    if "@" not in parts.netloc:
        return url
    return urlunsplit(
        (
            parts.scheme,
            f"{REDACTED}@{parts.netloc.rsplit('@', 1)[1]}",
            parts.path,
            parts.query,
            parts.fragment,
        )
    )


def retry_delays(limit_s: float, unit_s: float) -> list[float]:
    """The waits between attempts: doubling from ``unit_s`` up to 32 units, for as long as the next
    attempt still starts within ``limit_s`` of the first."""
    delays: list[float] = []
    if unit_s <= 0:
        return delays
    step = unit_s
    elapsed = 0.0
    # A hair of slack: 0.1 + 0.2 must fit in 0.3.
    while elapsed + step <= limit_s + 1e-9:
        delays.append(step)
        elapsed += step
        step = min(step * 2, unit_s * MAX_BACKOFF_UNITS)
    return delays


def delivery_headers(
    kind: str,
    *,
    subscription_id: str,
    topic_id: str,
    message_id: str,
    timestamp: str,
    content_type: str,
    confirmation_url: str | None = None,
) -> dict[str, str]:
    headers = {
        "Content-Type": content_type,
        "X-OCI-NS-MessageType": kind,
        "X-OCI-NS-SubscriptionId": subscription_id,
        "X-OCI-NS-TopicOcid": topic_id,
        "X-OCI-NS-MessageId": message_id,
        "X-OCI-NS-Timestamp": timestamp,
    }
    if confirmation_url is not None:
        headers["X-OCI-NS-ConfirmationURL"] = confirmation_url
    return headers


def confirmation_body(topic_name: str, confirmation_url: str) -> bytes:
    return json.dumps(
        {
            "ConfirmationURL": confirmation_url,
            "Message": (
                f"You have chosen to subscribe to the topic: {topic_name}. "
                "To confirm the subscription, visit the ConfirmationURL."
            ),
            "Type": CONFIRMATION,
        }
    ).encode()


@dataclass
class Delivery:
    """One message on its way to one subscription: what the admin endpoint shows."""

    message_id: str
    kind: str
    subscription_id: str
    topic_id: str
    endpoint: str  # redacted
    body: bytes
    content_type: str
    timestamp: str
    confirmation_url: str | None = None
    state: str = "PENDING"  # PENDING, RETRYING, DELIVERED, GAVE_UP, DROPPED
    attempts: list[dict[str, Any]] = field(default_factory=list)
    created: str = field(default_factory=now_rfc3339)
    finished: str | None = None

    def shown(self) -> dict[str, Any]:
        return {
            "messageId": self.message_id,
            "messageType": self.kind,
            "subscriptionId": self.subscription_id,
            "topicId": self.topic_id,
            "endpoint": self.endpoint,
            "state": self.state,
            "timeCreated": self.created,
            "timeFinished": self.finished,
            "attempts": list(self.attempts),
        }


# delivery --------------------------------------------------------------------------------------
class Notifier:
    """Fans published messages out to a topic's subscriptions and delivers each in the background."""

    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        self.deliveries: deque[Delivery] = deque(maxlen=5000)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._session: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()

    # publishing ----------------------------------------------------------------------------
    def publish(self, topic_id: str, body: bytes, content_type: str) -> tuple[str, str]:
        """Queue ``body`` for every ACTIVE HTTPS subscription of the topic: (messageId, timestamp)."""
        message_id = str(uuid.uuid4())
        timestamp = now_rfc3339()
        for sub in self.emu.store.all(SUBSCRIPTION):
            doc = sub.doc
            if doc.get("topicId") == topic_id and doc.get("lifecycleState") == "ACTIVE":
                self._queue(
                    Delivery(
                        message_id,
                        NOTIFICATION,
                        sub.id,
                        topic_id,
                        redact_url(str(doc["endpoint"])),
                        body,
                        content_type,
                        timestamp,
                    )
                )
        return message_id, timestamp

    def publish_event(self, topic_id: str, envelope: Mapping[str, Any]) -> None:
        """An Events rule's ONS action: the envelope is the message (emu.publish_to_topic)."""
        topic = self.emu.store.get(TOPIC, topic_id)
        if topic is None or topic.doc.get("lifecycleState") != "ACTIVE":
            LOG.info("event %s: no active topic %s", envelope.get("eventID"), topic_id)
            return
        self.publish(topic_id, json.dumps(envelope).encode(), "application/json")

    def confirm_request(self, subscription_id: str, confirmation_url: str) -> None:
        """The SubscriptionConfirmation message a new (or resent) PENDING subscription gets."""
        sub = self.emu.store.get(SUBSCRIPTION, subscription_id)
        if sub is None:
            return
        topic = self.emu.store.get(TOPIC, str(sub.doc["topicId"]))
        name = str(topic.doc.get("name")) if topic else ""
        self._queue(
            Delivery(
                str(uuid.uuid4()),
                CONFIRMATION,
                subscription_id,
                str(sub.doc["topicId"]),
                redact_url(str(sub.doc["endpoint"])),
                confirmation_body(name, confirmation_url),
                "application/json",
                now_rfc3339(),
                confirmation_url,
            )
        )

    def _queue(self, delivery: Delivery) -> None:
        self.deliveries.append(delivery)
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is not None:
            self._spawn(delivery)
        elif self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._spawn, delivery)
        else:
            delivery.state = "DROPPED"
            LOG.warning("notification %s: no server loop to deliver it", delivery.message_id)

    def _spawn(self, delivery: Delivery) -> None:
        task = asyncio.get_running_loop().create_task(self._deliver(delivery))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # attempts ------------------------------------------------------------------------------
    async def _deliver(self, delivery: Delivery) -> None:
        settings = self.emu.settings
        waits = retry_delays(settings.notifications_retry_seconds, settings.notifications_retry_base_seconds)
        for attempt in range(len(waits) + 1):
            endpoint = self._live_endpoint(delivery)
            if endpoint is None:
                self._finish(delivery, "DROPPED", "the subscription is gone")
                return
            if await self._attempt(delivery, endpoint):
                self._finish(delivery, "DELIVERED", None)
                return
            if attempt == len(waits):
                break
            delivery.state = "RETRYING"
            await asyncio.sleep(waits[attempt])
        self._finish(delivery, "GAVE_UP", f"no 2xx within {settings.notifications_retry_seconds:g} s")

    def _live_endpoint(self, delivery: Delivery) -> str | None:
        """The subscription's endpoint, with credentials, while the message is still for it."""
        sub = self.emu.store.get(SUBSCRIPTION, delivery.subscription_id)
        if sub is None:
            return None
        wanted = ("PENDING",) if delivery.kind == CONFIRMATION else ("ACTIVE",)
        return str(sub.doc["endpoint"]) if sub.doc.get("lifecycleState") in wanted else None

    async def _attempt(self, delivery: Delivery, endpoint: str) -> bool:
        url, authorization = split_endpoint(endpoint)
        headers = delivery_headers(
            delivery.kind,
            subscription_id=delivery.subscription_id,
            topic_id=delivery.topic_id,
            message_id=delivery.message_id,
            timestamp=delivery.timestamp,
            content_type=delivery.content_type,
            confirmation_url=delivery.confirmation_url,
        )
        if authorization:
            headers["Authorization"] = authorization
        started = time.monotonic()
        shown: dict[str, Any] = {"time": now_rfc3339()}
        try:
            async with self._client().post(
                url,
                data=delivery.body,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=ATTEMPT_TIMEOUT_S),
                allow_redirects=False,
            ) as response:
                await response.read()
                shown["status"] = response.status
        except TimeoutError:
            shown["error"] = f"timed out after {ATTEMPT_TIMEOUT_S:g} s"
        except aiohttp.ClientError as exc:
            # Built from the bare URL: the message names host and port, never the userinfo.
            shown["error"] = f"{type(exc).__name__}: {exc}"
        shown["seconds"] = round(time.monotonic() - started, 3)
        delivery.attempts.append(shown)
        ok = 200 <= int(shown.get("status", 0)) < 300
        if not ok:
            LOG.info(
                "notification %s to %s: attempt %d failed (%s)",
                delivery.message_id,
                delivery.endpoint,
                len(delivery.attempts),
                shown.get("status", shown.get("error")),
            )
        return ok

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            ca_file = self.emu.settings.notifications_ca_file
            context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
            self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context))
        return self._session

    def _finish(self, delivery: Delivery, state: str, reason: str | None) -> None:
        delivery.state = state
        delivery.finished = now_rfc3339()
        # The record stays for the admin view; the message need not (up to 5000 x 64 KiB).
        delivery.body = b""
        if state != "DELIVERED":
            LOG.warning(
                "notification %s to %s: %s (%s)",
                delivery.message_id,
                delivery.endpoint,
                state.lower(),
                reason,
            )

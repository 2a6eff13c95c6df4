"""The OCI Notifications endpoint: Basic auth, subscription confirmation, events handed to the intake.

Basic credentials are the only authentication OCI Notifications offers, so they are checked first,
in constant time; a request without them gets 401 and nothing else happens. A subscription is
confirmed only for a topic in OCIDS_NOTIFICATIONS_TOPIC_IDS, and only by GETting a URL at an OCI
Notifications host (or OCIDS_NOTIFICATIONS_ENDPOINT): whoever knows the credentials still cannot
make the operator fetch an arbitrary URL. A notification is answered at once; the intake treats its
body as a hint only (a forged one costs at most one confirming read).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import enum
import hmac
import json
import logging
import os
import re
import ssl
import time
import urllib.parse
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

from ..adapters import notifications_server
from ..adapters.notifications_server import Delivery, NotificationsServer, Reply
from ..settings import OperatorSettings
from .event_intake import EventSource, IntakeOutcome

log = logging.getLogger(__name__)

_OCI_NOTIFICATIONS_HOST = notifications_server.oci_notifications_host()
CONFIRMATION_PATH = re.compile(r"/20181201/subscriptions/[A-Za-z0-9._-]+/confirmation")
UNAUTHORIZED = Reply(401, "unauthorized", {"WWW-Authenticate": 'Basic realm="ocids-operator"'})
# A failed confirmation GET is tried again after these pauses (~10 min in all): OCI's link stays
# valid for days, and a network blip at subscription time must not leave the subscription PENDING.
CONFIRM_RETRY_DELAYS = (0.0, 30.0, 90.0, 180.0, 300.0)


class MessageType(enum.StrEnum):
    CONFIRMATION = "SubscriptionConfirmation"
    UNSUBSCRIBE = "UnsubscribeConfirmation"
    NOTIFICATION = "Notification"


class Intake(Protocol):
    def offer(self, doc: Any, source: EventSource) -> IntakeOutcome: ...


def read_credentials(path: str) -> bytes:
    """`user:password` from the file (a mounted Secret); a trailing newline is not part of it."""
    with open(path, "rb") as handle:
        text = handle.read().strip()
    if b":" not in text:
        raise ValueError(f"OCIDS_NOTIFICATIONS_CREDENTIALS_FILE ({path}) must hold user:password")
    return text


def authorized(header: str | None, credentials: bytes) -> bool:
    if not header or header[:6].lower() != "basic ":
        return False
    try:
        given = base64.b64decode(header[6:].strip(), validate=True)
    except (binascii.Error, ValueError):
        return False
    return hmac.compare_digest(given, credentials)


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urllib.parse.urlsplit(url)
    default = {"https": 443, "http": 80}.get(parts.scheme)
    return parts.scheme, (parts.hostname or "").lower(), parts.port or default


def confirmation_refusal(url: str, settings: OperatorSettings) -> str | None:
    """Why the operator will not GET this confirmation URL, or None."""
    try:
        parts = urllib.parse.urlsplit(url)
        origin = _origin(url)
    except ValueError:
        return "not a URL"
    if parts.username is not None or parts.password is not None:
        return "a URL with credentials"
    if not CONFIRMATION_PATH.fullmatch(parts.path):
        return "not a subscription confirmation path"
    if settings.notifications_endpoint and origin == _origin(settings.notifications_endpoint):
        return None
    if origin[0] == "https" and origin[2] == 443 and _OCI_NOTIFICATIONS_HOST.fullmatch(origin[1]):
        return None
    return "not an OCI Notifications host (nor OCIDS_NOTIFICATIONS_ENDPOINT)"


def _header(delivery: Delivery, name: str) -> str | None:
    lowered = name.lower()
    return next((v for k, v in delivery.headers.items() if k.lower() == lowered), None)


class NotificationsEndpoint:
    """Decides what one delivery means. Only the leader builds one (a standby does not listen)."""

    def __init__(
        self,
        settings: OperatorSettings,
        credentials: bytes,
        intake: Intake,
        confirm: Callable[[str], Awaitable[int]] = notifications_server.get_confirmation,
        confirm_delays: tuple[float, ...] = CONFIRM_RETRY_DELAYS,
    ) -> None:
        self._settings = settings
        self.credentials = credentials
        self._topics = frozenset(settings.notifications_topic_ids)
        self._confirm = confirm
        self._confirm_delays = confirm_delays
        self.intake = intake
        self._tasks: set[asyncio.Task[None]] = set()

    def authorize(self, headers: Mapping[str, str]) -> Reply | None:
        """The refusal for a request with these headers, before its body is read; None: go on."""
        lowered = {k.lower(): v for k, v in headers.items()}
        if not authorized(lowered.get("authorization"), self.credentials):
            return UNAUTHORIZED
        return None

    async def handle(self, delivery: Delivery) -> Reply:
        refusal = self.authorize(delivery.headers)
        if refusal is not None:
            return refusal
        kind = _header(delivery, "X-OCI-NS-MessageType") or MessageType.NOTIFICATION.value
        topic = _header(delivery, "X-OCI-NS-TopicOcid") or ""
        if kind == MessageType.CONFIRMATION:
            return self._confirmation(delivery, topic)
        if kind != MessageType.NOTIFICATION:
            return Reply(200, "ignored")
        if self._topics and topic not in self._topics:
            log.warning("notifications: a message from topic %r, not in OCIDS_NOTIFICATIONS_TOPIC_IDS", topic)
            return Reply(403, "topic not accepted")
        try:
            doc = json.loads(delivery.body)
        except (ValueError, RecursionError):  # RecursionError: nested deeper than the parser goes
            return Reply(400, "the body is not JSON")
        if not isinstance(doc, dict):
            return Reply(400, "the body is not a JSON object")
        outcome = self.intake.offer(doc, EventSource.NOTIFICATIONS)
        return Reply(200, outcome.value)

    def _confirmation(self, delivery: Delivery, topic: str) -> Reply:
        if topic not in self._topics:
            log.warning(
                "notifications: a subscription confirmation for topic %r, not in "
                "OCIDS_NOTIFICATIONS_TOPIC_IDS: not confirmed",
                topic,
            )
            return Reply(403, "topic not accepted")
        url = _header(delivery, "X-OCI-NS-ConfirmationURL")
        if not url:
            try:
                body = json.loads(delivery.body)
                url = body.get("ConfirmationURL") if isinstance(body, dict) else None
            except (ValueError, RecursionError):
                url = None
        if not isinstance(url, str) or not url:
            return Reply(400, "no ConfirmationURL")
        refusal = confirmation_refusal(url, self._settings)
        if refusal:
            log.warning("notifications: confirmation for topic %s refused: %s", topic, refusal)
            return Reply(403, "confirmation URL refused")
        # Answered at once; the GET (one, no redirects) follows. Its token is never logged.
        task = asyncio.get_running_loop().create_task(self._fetch(url, topic))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return Reply(200, "confirming")

    async def _fetch(self, url: str, topic: str) -> None:
        tries = len(self._confirm_delays)
        for attempt, delay in enumerate(self._confirm_delays, start=1):
            await asyncio.sleep(delay)
            try:
                status = await self._confirm(url)
            except Exception as exc:  # the URL (its token) is never logged, nor the message that may hold it
                problem = type(exc).__name__
            else:
                if 200 <= status < 300:
                    log.info("notifications: subscription to topic %s confirmed", topic)
                    return
                problem = f"HTTP {status}"
            log.warning(
                "notifications: confirming the subscription to %s failed (try %d of %d): %s",
                topic,
                attempt,
                tries,
                problem,
            )
        log.error(
            "notifications: the subscription to %s stays unconfirmed: resend the confirmation from the "
            "OCI console, or open its link",
            topic,
        )

    async def drain(self, cancel: bool = False) -> None:
        """Wait for confirmations under way (tests), or stop them (`cancel`: shutdown)."""
        while self._tasks:
            if cancel:
                for task in self._tasks:
                    task.cancel()
            await asyncio.gather(*list(self._tasks), return_exceptions=True)


class NotificationsService:
    """The endpoint and its server, started with the leader and stopped with it.

    The credentials file and the certificate are mounted Secrets that may be rotated: when a file's
    mtime changes (looked at, at most once a second, as requests come) they are read again, the
    certificate into the same TLS context, so new connections get it without a restart."""

    def __init__(
        self, settings: OperatorSettings, intake: Intake, clock: Callable[[], float] = time.monotonic
    ) -> None:
        assert settings.notifications_credentials_file
        self._settings = settings
        self._clock = clock
        self.endpoint = NotificationsEndpoint(
            settings, read_credentials(settings.notifications_credentials_file), intake
        )
        cert, key = settings.notifications_tls_cert_file, settings.notifications_tls_key_file
        self._tls = notifications_server.tls_context(cert, key) if cert and key else None
        if self._tls is None:
            log.warning(
                "notifications: serving plain HTTP on port %d (no OCIDS_NOTIFICATIONS_TLS_CERT_FILE): "
                "OCI delivers over HTTPS only, so a TLS-terminating ingress must sit in front",
                settings.notifications_port,
            )
        self._files = [f for f in (settings.notifications_credentials_file, cert, key) if f]
        self._stamp = self._mtimes()
        self._looked = clock()
        self.server = NotificationsServer(
            self.endpoint.handle,
            settings.notifications_port,
            settings.bind_address,
            self._tls,
            authorize=self._authorize,
        )

    def _mtimes(self) -> tuple[int, ...]:
        stamps = []
        for path in self._files:
            try:
                stamps.append(os.stat(path).st_mtime_ns)
            except OSError:
                stamps.append(-1)
        return tuple(stamps)

    def _authorize(self, headers: Mapping[str, str]) -> Reply | None:
        self.reload_if_changed()
        return self.endpoint.authorize(headers)

    def reload_if_changed(self) -> None:
        now = self._clock()
        if now - self._looked < 1.0:
            return
        self._looked = now
        stamp = self._mtimes()
        if stamp == self._stamp:
            return
        self._stamp = stamp  # a bad new file is reported once, not on every request
        settings = self._settings
        try:
            credentials = read_credentials(settings.notifications_credentials_file or "")
            if self._tls is not None:
                self._tls.load_cert_chain(
                    settings.notifications_tls_cert_file or "", settings.notifications_tls_key_file
                )
        except (OSError, ValueError) as exc:
            log.warning(
                "notifications: the rotated credentials or certificate cannot be loaded, the old "
                "ones stay in use: %s",
                type(exc).__name__ if not isinstance(exc, ValueError) else exc,
            )
            return
        self.endpoint.credentials = credentials
        log.info("notifications: credentials and certificate read again (their files changed)")

    async def start(self) -> None:
        await self.server.start()
        log.info("notifications: listening on port %d", self.server.port)

    async def stop(self) -> None:
        await self.server.stop()
        await self.endpoint.drain(cancel=True)


class NotificationsStartError(Exception):
    """The endpoint cannot start; the message names the setting."""


async def start_service(settings: OperatorSettings, intake: Intake) -> NotificationsService:
    """Build and start the endpoint, or raise NotificationsStartError with nothing left listening."""
    try:
        service = NotificationsService(settings, intake)
    except (OSError, ValueError) as exc:
        raise NotificationsStartError(startup_problem(settings) or str(exc)) from exc
    try:
        await service.start()
    except OSError as exc:
        await service.stop()
        raise NotificationsStartError(
            f"OCIDS_NOTIFICATIONS_PORT={settings.notifications_port} cannot be listened on: {exc.strerror}"
        ) from exc
    return service


def startup_problem(settings: OperatorSettings) -> str | None:
    """What keeps the Notifications endpoint from starting, naming the setting; checked before kopf
    starts, so a bad setting stops the operator at once (exit 2) instead of a startup handler that
    kopf retries forever."""
    if not settings.notifications_port:
        return None
    path = settings.notifications_credentials_file or ""
    try:
        read_credentials(path)
    except OSError as exc:
        return f"OCIDS_NOTIFICATIONS_CREDENTIALS_FILE ({path}) cannot be read: {exc.strerror}"
    except ValueError as exc:
        return str(exc)
    if settings.notifications_tls_cert_file and settings.notifications_tls_key_file:
        try:
            notifications_server.tls_context(
                settings.notifications_tls_cert_file, settings.notifications_tls_key_file
            )
        except (OSError, ssl.SSLError) as exc:
            return (
                "OCIDS_NOTIFICATIONS_TLS_CERT_FILE/OCIDS_NOTIFICATIONS_TLS_KEY_FILE cannot be loaded "
                f"as a certificate chain and its key: {exc}"
            )
    return None

"""Run events (workflows/events.py): started with the operator, so only on the leader, and stopped
with it. The service is kept in kopf's memo as `events` (the Notifications endpoint offers to its
intake)."""

from __future__ import annotations

import logging
from typing import Any

import kopf

from ..adapters.oci_client import OciGateway
from ..adapters.oci_streaming import OciStreams
from ..workflows.events import EventsService
from ..workflows.notifications import NotificationsStartError, start_service
from .outcome import runtime_of

log = logging.getLogger(__name__)


def register(registry: kopf.OperatorRegistry) -> None:
    @kopf.on.startup(id="events", registry=registry)
    async def start_events(memo: Any, **_: Any) -> None:
        rt = runtime_of(memo)
        settings = rt.settings
        streams = None
        if settings.events_stream_id:
            if isinstance(rt.oci, OciGateway):
                streams = OciStreams.of(rt.oci)
            else:
                log.error(
                    "OCIDS_EVENTS_STREAM_ID is set but this operator's OCI client (%s) cannot read "
                    "streams: events from the stream are off, runs are polled",
                    type(rt.oci).__name__,
                )
        if (settings.events_stream_id or settings.notifications_port) and settings.poll_mode != "list":
            log.warning(
                "OCIDS_POLL_MODE=%s: events are taken as hints the same way, but each run keeps its own "
                "timer at the usual intervals (events slow polling down only with OCIDS_POLL_MODE=list)",
                settings.poll_mode,
            )
        service = EventsService(rt.settings, rt.poller, rt.kube, streams)
        # The listener first: a port in use (or files gone since the check at start-up) stops the
        # operator with nothing left running, instead of a startup handler kopf retries forever.
        if rt.settings.notifications_port:
            try:
                notifications = await start_service(rt.settings, service.intake)
            except NotificationsStartError as exc:
                raise kopf.PermanentError(str(exc)) from exc
            memo.notifications = notifications
        memo.events = service
        service.start()

    @kopf.on.cleanup(id="events-stop", registry=registry)
    async def stop_events(memo: Any, **_: Any) -> None:
        notifications = getattr(memo, "notifications", None)
        if notifications is not None:
            await notifications.stop()
        service = getattr(memo, "events", None)
        if service is not None:
            await service.stop()

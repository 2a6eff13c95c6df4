"""OCI Notifications (``/20181201``): topics, HTTPS subscriptions with their confirmation link, and
PublishMessage. Delivery is core/notifications.py; ``GET /_emulator/notifications/deliveries``
shows its attempts."""

from __future__ import annotations

import asyncio

from aiohttp import web

from ocids_emulator.api.httpio import EMULATOR_KEY, json_response
from ocids_emulator.api.notifications import subscriptions, topics
from ocids_emulator.api.notifications.common import NOTIFIER_KEY
from ocids_emulator.core.notifications import Notifier


def install(app: web.Application) -> None:
    """Deliveries for this app's emulator, Events' ONS actions included; started and stopped with it."""
    notifier = Notifier(app[EMULATOR_KEY])
    app[NOTIFIER_KEY] = notifier
    app[EMULATOR_KEY].publish_to_topic = notifier.publish_event

    async def start(_: web.Application) -> None:
        notifier.start(asyncio.get_running_loop())

    async def stop(_: web.Application) -> None:
        await notifier.close()

    app.on_startup.append(start)
    app.on_cleanup.append(stop)


async def get_deliveries(request: web.Request) -> web.Response:
    """Admin: every delivery and its attempts (not part of the OCI API; endpoints are redacted)."""
    deliveries = request.app[NOTIFIER_KEY].deliveries
    return json_response({"deliveries": [d.shown() for d in deliveries]})


def routes() -> list[web.RouteDef]:
    return [*topics.routes(), *subscriptions.routes()]


def admin_routes() -> list[web.RouteDef]:
    return [web.get("/_emulator/notifications/deliveries", get_deliveries, allow_head=False)]

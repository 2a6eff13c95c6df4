"""OCI Streaming (``/20180418``): administration (pools, streams) and messages on the same host."""

from __future__ import annotations

from aiohttp import web

from ocids_emulator.api.streaming import admin, messages


def routes() -> list[web.RouteDef]:
    return [*admin.routes(), *messages.routes()]

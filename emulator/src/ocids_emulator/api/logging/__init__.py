"""OCI Logging: management (``/20200531``) and search (``/20190909``)."""

from __future__ import annotations

from aiohttp import web

from ocids_emulator.api.logging import management, search


def routes() -> list[web.RouteDef]:
    return [*management.routes(), *search.routes()]

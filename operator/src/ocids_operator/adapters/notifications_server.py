"""The HTTP(S) listener OCI Notifications delivers to, and the one GET a subscription confirmation needs.

Only transport lives here: what a delivery means is workflows/notifications.py's business.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import ssl
from collections.abc import Awaitable, Callable, Mapping

import aiohttp
import oci.regions
from aiohttp import web

# OCI Notifications caps a message at 64 KiB; an event envelope is ~2 KiB. Anything far larger is not
# a delivery, and is refused (413) before it is read into memory.
MAX_BODY_BYTES = 256 * 1024
CONFIRM_TIMEOUT_SECONDS = 10.0
# A sender that trickles its body must not hold a connection (and its memory) for long.
READ_TIMEOUT_SECONDS = 10.0
# Deliveries in flight at once; past it a sender gets 503 and OCI retries later.
MAX_IN_FLIGHT = 64


def oci_notifications_host() -> re.Pattern[str]:
    """The hosts of OCI Notifications in every realm the SDK knows: notification.<region>.<domain>,
    optionally with `oci.` before the domain and a `cellN.` shard in front (real confirmation links
    look like cell1.notification.us-phoenix-1.oci.oraclecloud.com)."""
    domains = "|".join(sorted(re.escape(d) for d in set(oci.regions.REALMS.values())))
    return re.compile(rf"(cell[0-9]+\.)?notification\.[a-z0-9-]+\.(oci\.)?({domains})")


@dataclasses.dataclass(frozen=True)
class Delivery:
    headers: Mapping[str, str]
    body: bytes


@dataclasses.dataclass(frozen=True)
class Reply:
    status: int
    text: str = ""
    headers: Mapping[str, str] = dataclasses.field(default_factory=dict)


Handler = Callable[[Delivery], Awaitable[Reply]]
Authorize = Callable[[Mapping[str, str]], Reply | None]


def tls_context(cert_file: str, key_file: str) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    return context


class NotificationsServer:
    """One aiohttp site on its own port; every POST, whatever the path, goes to `handler`.

    `authorize` sees the headers first: a request it refuses is answered with its body unread, so
    whoever lacks the credentials cannot make the operator read (or buffer) anything."""

    def __init__(
        self,
        handler: Handler,
        port: int,
        bind_address: str,
        tls: ssl.SSLContext | None,
        max_body: int = MAX_BODY_BYTES,
        authorize: Authorize | None = None,
        read_timeout: float = READ_TIMEOUT_SECONDS,
        max_in_flight: int = MAX_IN_FLIGHT,
    ) -> None:
        self._handler = handler
        self._authorize = authorize
        self._port = port
        self._bind = bind_address
        self._tls = tls
        self._max_body = max_body
        self._read_timeout = read_timeout
        self._max_in_flight = max_in_flight
        self._in_flight = 0
        self._runner: web.AppRunner | None = None
        self._app = web.Application(client_max_size=max_body)
        self._app.router.add_route("POST", "/{tail:.*}", self._serve)
        self.port = port

    async def _serve(self, request: web.Request) -> web.Response:
        headers = dict(request.headers)
        refusal = self._authorize(headers) if self._authorize else None
        if refusal is not None:
            return self._unread(refusal)
        if request.content_length is not None and request.content_length > self._max_body:
            return self._unread(Reply(413, "too large"))
        if self._in_flight >= self._max_in_flight:
            return self._unread(Reply(503, "busy", {"Retry-After": "5"}))
        self._in_flight += 1
        try:
            try:
                body = await asyncio.wait_for(request.read(), self._read_timeout)
            except TimeoutError:
                return self._unread(Reply(408, "the body came too slowly"))
            except web.HTTPRequestEntityTooLarge:  # no Content-Length: aiohttp stops at the limit
                return self._unread(Reply(413, "too large"))
            reply = await self._handler(Delivery(headers=headers, body=body))
        finally:
            self._in_flight -= 1
        return web.Response(status=reply.status, text=reply.text, headers=dict(reply.headers))

    @staticmethod
    def _unread(reply: Reply) -> web.Response:
        # The connection is closed after the answer, so the unread body is never drained into memory.
        response = web.Response(status=reply.status, text=reply.text, headers=dict(reply.headers))
        response.force_close()
        return response

    async def start(self) -> None:
        # lingering_time 0: a request answered before its body was read is not drained afterwards.
        self._runner = web.AppRunner(self._app, access_log=None, lingering_time=0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._bind, self._port, ssl_context=self._tls)
        await site.start()
        sockets = getattr(site._server, "sockets", None) or []  # port 0 in tests: the one bound
        if sockets:
            self.port = sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


async def get_confirmation(url: str) -> int:
    """GET a subscription's confirmation URL once, redirects not followed; returns the HTTP status."""
    timeout = aiohttp.ClientTimeout(total=CONFIRM_TIMEOUT_SECONDS)
    async with (
        aiohttp.ClientSession(timeout=timeout) as session,
        session.get(url, allow_redirects=False) as response,
    ):
        await response.read()
        return response.status

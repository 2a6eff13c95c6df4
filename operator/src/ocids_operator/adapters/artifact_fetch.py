"""Downloads of `https://` artifacts: streamed into spool files, conditional, bounded, SSRF-checked.

Memory: an artifact may be as large as OCIDS_ARTIFACT_MAX_BYTES, every TrainingJob is reconciled
at start-up and on each resync, and the chart's limit is 512 Mi. So the bytes go through a hash into
a file under the spool directory (the chart's writable /tmp) and never sit in memory; the upload to
OCI reads that file. A resync sends `If-None-Match` / `If-Modified-Since`, and a 304 keeps the known
digest and file. The spool has a byte budget (`spool`).

Time: each fetch has one deadline (OCIDS_ARTIFACT_URL_TIMEOUT_SECONDS) across all its redirects and
its body, so a slow chain cannot hold a slot longer than that. At most OCIDS_ARTIFACT_FETCH_CONCURRENCY
downloads (URL and oci://) run at once, shared fairly between namespaces, and waiting for one is
bounded too (`fetch_slots`).

Addresses (`url_guard`): redirects are followed by hand, and every hop is checked again: https only,
never a link-local or cloud metadata address, never loopback unless OCIDS_ARTIFACT_URL_ALLOW_LOOPBACK,
never a numeric IPv4 form other than a dotted quad, and (when set) only OCIDS_ARTIFACT_URL_ALLOWED_HOSTS.
Private ranges (10/8, 172.16/12, 192.168/16, fc00::/7) are allowed: in-cluster and on-premises
artifact servers are a normal setup, and https still needs a certificate valid for the name. A
failed connection to a private address reads the same whatever failed (refused, timed out, TLS), so
an artifact URL cannot be used to map the operator's network.

Content: stored byte-exact. No transparent decoding (`Accept-Encoding: identity`, and a gzip body a
server sends anyway is kept as served): the digest is of the bytes OCI gets.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import os
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import yarl

from ..core.links import shown_url
from ..core.model import SpooledContent
from ..settings import OperatorSettings
from .fetch_slots import FairSlots, SlotWaitTimeout
from .git_source import GitSource
from .spool import Spool, SpoolFull, TooLarge, discard
from .url_guard import (
    ALLOW_LIST_SETTING,
    CheckedResolver,
    HostAllowList,
    UrlRefused,
    address_refusal,
    ip_literal,
    is_private,
    legacy_ipv4,
)

__all__ = [
    "CHUNK",
    "ArtifactFetcher",
    "BadUrl",
    "CheckedResolver",
    "FetchTimeout",
    "HttpStatus",
    "SlotWaitTimeout",
    "Spool",
    "SpoolFull",
    "TooLarge",
    "Unreachable",
    "UrlRefused",
    "address_refusal",
    "discard",
]

CHUNK = 1 << 16
MAX_REDIRECTS = 5
# Downloads kept (one spool file each) for conditional requests: disk, not memory, within the budget.
CACHE_ENTRIES = 32
_REDIRECTS = frozenset({301, 302, 303, 307, 308})


class BadUrl(Exception):
    """Not a URL (a port out of range, ...). No message: the text would be the URL, tokens and all."""


class HttpStatus(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status


class FetchTimeout(Exception):
    def __init__(self, seconds: float) -> None:
        super().__init__(
            f"not fetched within {seconds:g} s "
            "(OCIDS_ARTIFACT_URL_TIMEOUT_SECONDS, redirects and body together)"
        )


class Unreachable(Exception):
    """A fetch from a private address failed to connect, to finish the TLS handshake or to finish
    in time. One message whatever failed: which one would tell the state of a private port."""

    def __init__(self, seconds: float) -> None:
        super().__init__(
            f"no connection, TLS handshake or complete answer within {seconds:g} s "
            "(OCIDS_ARTIFACT_URL_TIMEOUT_SECONDS; details are withheld for private addresses)"
        )


class _Evicted(Exception):
    """The cached copy a conditional request referred to was evicted before the 304 came back."""


@dataclasses.dataclass(frozen=True)
class _Known:
    etag: str | None
    last_modified: str | None
    content: SpooledContent


class ArtifactFetcher:
    """One per operator: the download slots, the spool, and what each URL answered last."""

    def __init__(self, settings: OperatorSettings) -> None:
        self._settings = settings
        self.spool = Spool(settings.artifact_spool_dir, settings.artifact_spool_max_bytes)
        self.slots = FairSlots(settings.artifact_fetch_concurrency)
        # Git sources (artifact.git) take the same slots: one concurrency limit for all fetches.
        self.git = GitSource(settings, self.slots)
        self._allowed = HostAllowList.parse(settings.artifact_url_allowed_hosts)
        self._known: collections.OrderedDict[str, _Known] = collections.OrderedDict()

    @contextlib.asynccontextmanager
    async def slot(self, namespace: str = "") -> AsyncIterator[None]:
        """One download slot for `namespace`. Raises SlotWaitTimeout."""
        async with self.slots.slot(namespace, self._settings.artifact_fetch_wait_seconds):
            yield

    async def fetch(
        self, url: str, *, max_bytes: int, timeout_seconds: float, namespace: str = ""
    ) -> SpooledContent:
        """The bytes behind an https URL, spooled. Raises UrlRefused, HttpStatus, TooLarge, SpoolFull,
        SlotWaitTimeout, FetchTimeout, Unreachable, aiohttp.ClientError (their texts may quote URLs:
        show them through `without_url_secrets`)."""
        try:
            target = yarl.URL(url, encoded=True)
            target.port  # noqa: B018 - parses the port, so a bad one is refused here
        except ValueError:
            raise BadUrl() from None
        async with self.slot(namespace):
            resolver = CheckedResolver(
                allow_loopback=self._settings.artifact_url_allow_loopback, allowed=self._allowed
            )
            private = [False]
            try:
                async with asyncio.timeout(timeout_seconds):
                    try:
                        return await self._get(url, target, self._usable(url), max_bytes, resolver, private)
                    except _Evicted:
                        # Evicted for room while the server said 304: the bytes must come again.
                        return await self._get(url, target, None, max_bytes, resolver, private)
            except (TimeoutError, aiohttp.ClientConnectionError, OSError) as exc:
                if private[0] or resolver.private_seen:
                    raise Unreachable(timeout_seconds) from None
                if isinstance(exc, TimeoutError):
                    raise FetchTimeout(timeout_seconds) from None
                raise
            finally:
                await resolver.close()  # the connector closes only a resolver it made itself

    async def _get(
        self,
        url: str,
        target: yarl.URL,
        known: _Known | None,
        max_bytes: int,
        resolver: CheckedResolver,
        private: list[bool],
    ) -> SpooledContent:
        # identity: the stored bytes are the served bytes (no gzip decoding on either side).
        headers = {"Accept-Encoding": "identity"}
        if known is not None and known.etag:
            headers["If-None-Match"] = known.etag
        elif known is not None and known.last_modified:
            headers["If-Modified-Since"] = known.last_modified
        connector = aiohttp.TCPConnector(resolver=resolver, use_dns_cache=False)
        async with (
            aiohttp.ClientSession(connector=connector, auto_decompress=False) as session,
            self._follow(session, target, headers, private) as response,
        ):
            if response.status == 304 and known is not None:
                if self._usable(url) is not known:
                    raise _Evicted()
                self._known.move_to_end(url)
                self.spool.touch(known.content.path)
                return known.content
            if response.status != 200:
                raise HttpStatus(response.status)
            if response.content_length is not None and response.content_length > max_bytes:
                raise TooLarge(response.content_length)
            with self.spool.writer(max_bytes) as writer:
                async for chunk in response.content.iter_chunked(CHUNK):
                    writer.write(chunk)
            content = writer.done()
            etag, modified = _validator(response, "ETag"), _validator(response, "Last-Modified")
            self._remember(url, _Known(etag, modified, content))
            return content

    @contextlib.asynccontextmanager
    async def _follow(
        self, session: aiohttp.ClientSession, url: yarl.URL, headers: dict[str, str], private: list[bool]
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        for hop in range(MAX_REDIRECTS + 1):
            private[0] = self._check(url, redirected=hop > 0) or private[0]
            response = await session.get(url, headers=headers, allow_redirects=False)
            try:
                location = response.headers.get("Location")
                if response.status not in _REDIRECTS or not location:
                    yield response
                    return
                try:
                    url = response.url.join(yarl.URL(location))
                except ValueError:
                    raise UrlRefused("a redirect to an invalid URL") from None
            finally:
                response.release()
        raise UrlRefused(f"more than {MAX_REDIRECTS} redirects")

    def _usable(self, url: str) -> _Known | None:
        """What a conditional request may refer to: a remembered answer whose file still exists."""
        known = self._known.get(url)
        return known if known is not None and os.path.exists(known.content.path) else None

    def _check(self, url: yarl.URL, *, redirected: bool) -> bool:
        """Refuse a hop artifacts are never read from; True when it is a private IP literal."""
        # The caller names the URL itself; a redirect hop is named here (shown: no secrets).
        hop = f"a redirect to {shown_url(str(url))}: " if redirected else ""
        if url.scheme != "https":
            raise UrlRefused(f"{hop}artifacts are read over https:// only")
        host = (url.host or "").strip("[]")
        if legacy_ipv4(host):
            raise UrlRefused(f"{hop}{host} is a numeric IPv4 form other than a dotted quad")
        if ip_literal(host) is None:
            if not self._allowed.allows_name(host) and not self._allowed.networks:
                raise UrlRefused(f"{hop}host {host} is not in {ALLOW_LIST_SETTING}")
            return False  # a name: checked on its addresses by CheckedResolver, at connect time
        reason = address_refusal(host, allow_loopback=self._settings.artifact_url_allow_loopback)
        if reason is not None:
            raise UrlRefused(f"{hop}{host} is {reason}")
        if not self._allowed.allows_address(host):
            raise UrlRefused(f"{hop}{host} is not in {ALLOW_LIST_SETTING}")
        return is_private(host)

    def _remember(self, url: str, known: _Known) -> None:
        previous = self._known.pop(url, None)
        if previous is not None and previous.content.path != known.content.path:
            self.spool.release(previous.content.path)
        self._known[url] = known
        path = known.content.path

        def forget() -> None:
            entry = self._known.get(url)
            if entry is not None and entry.content.path == path:
                del self._known[url]

        self.spool.cache(path, forget)
        while len(self._known) > CACHE_ENTRIES:
            _, evicted = self._known.popitem(last=False)
            self.spool.release(evicted.content.path)


def _validator(response: aiohttp.ClientResponse, name: str) -> str | None:
    value: Any = response.headers.get(name)
    return str(value) if value else None

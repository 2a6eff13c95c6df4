"""Downloads of `https://` artifacts: streamed into spool files, conditional, bounded, SSRF-checked.

Memory: an artifact may be as large as OCIDS_ARTIFACT_MAX_BYTES, every TrainingJob is reconciled
at start-up and on each resync, and the chart's limit is 512 Mi. So the bytes go through a hash into
a file under the spool directory (the chart's writable /tmp) and never sit in memory; the upload to
OCI reads that file. A resync sends `If-None-Match` / `If-Modified-Since`, and a 304 keeps the known
digest and file. At most OCIDS_ARTIFACT_FETCH_CONCURRENCY downloads (URL and oci://) run at once.

Addresses: redirects are followed by hand, and every hop is checked again: https only, never a
link-local or cloud metadata address (169.254.0.0/16, fe80::/10, fd00:ec2::254: the instance's
credentials live there), never loopback (the operator's own endpoints) unless
OCIDS_ARTIFACT_URL_ALLOW_LOOPBACK. Names are checked on the addresses they resolve to, in the
resolver the connection uses, so a DNS answer cannot differ between check and connect.
Private ranges (10/8, 172.16/12, 192.168/16, fc00::/7) are allowed: in-cluster and on-premises
artifact servers are a normal setup, and https still needs a certificate valid for the name.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import fcntl
import hashlib
import ipaddress
import os
import shutil
import socket
import tempfile
from collections.abc import AsyncIterator, Iterator
from typing import Any, BinaryIO

import aiohttp
import aiohttp.abc
import yarl

from ..core.links import shown_url
from ..core.model import SpooledContent
from ..settings import OperatorSettings

CHUNK = 1 << 16
MAX_REDIRECTS = 5
# Downloads kept (one spool file each) for conditional requests: disk, not memory.
CACHE_ENTRIES = 32
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_METADATA = (ipaddress.ip_network("169.254.169.254/32"), ipaddress.ip_network("fd00:ec2::254/128"))


class UrlRefused(Exception):
    """The URL (or a redirect hop) points somewhere artifacts are never read from. Message: shown URL."""


class BadUrl(Exception):
    """Not a URL (a port out of range, ...). No message: the text would be the URL, tokens and all."""


class HttpStatus(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status


class TooLarge(Exception):
    def __init__(self, size: int | None) -> None:
        super().__init__(f"{size} bytes" if size is not None else "over the limit")
        self.size = size


def address_refusal(address: str, *, allow_loopback: bool) -> str | None:
    """Why an artifact is never read from this address, or None."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        # IPv4 carried in IPv6 reaches the IPv4 address: judge that one.
        if ip.ipv4_mapped is not None or ip.sixtofour is not None:
            ip = ip.ipv4_mapped or ip.sixtofour  # type: ignore[assignment]
        elif ip in _NAT64:
            ip = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if any(ip in network for network in _METADATA):
        return "a cloud metadata address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_loopback:
        return None if allow_loopback else "a loopback address"
    if ip.is_unspecified or ip.is_multicast or ip.is_reserved:
        return "not a unicast address"
    return None


class CheckedResolver(aiohttp.abc.AbstractResolver):
    """The connector's resolver: refuses a name whose addresses include a refused one."""

    def __init__(self, *, allow_loopback: bool, inner: aiohttp.abc.AbstractResolver | None = None) -> None:
        self._allow_loopback = allow_loopback
        self._inner = inner or aiohttp.DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[aiohttp.abc.ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        for result in results:
            reason = address_refusal(result["host"], allow_loopback=self._allow_loopback)
            if reason is not None:
                raise UrlRefused(f"host {host} resolves to {result['host']}, {reason}")
        return results

    async def close(self) -> None:
        await self._inner.close()


class Spool:
    """Files of downloaded artifacts; each is written once, under a fresh name, and hashed on the way.

    Each process spools into its own directory, locked for its lifetime: several operators (tests,
    a dev machine) may share the root, and an emptyDir outlives a container restart, so a directory
    whose lock can be taken belongs to a process that is gone and is removed.
    """

    def __init__(self, root: str | None) -> None:
        root = root or os.path.join(tempfile.gettempdir(), "ocids-artifacts")
        os.makedirs(root, mode=0o700, exist_ok=True)
        for entry in os.scandir(root):
            if entry.is_dir(follow_symlinks=False):
                _remove_if_abandoned(entry.path)
        self.directory = tempfile.mkdtemp(prefix="spool-", dir=root)
        self._lock = open(os.path.join(self.directory, ".lock"), "wb")  # noqa: SIM115 - held for life
        fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)

    @contextlib.contextmanager
    def writer(self, max_bytes: int) -> Iterator[SpoolWriter]:
        handle, path = tempfile.mkstemp(prefix="artifact-", dir=self.directory)
        writer = SpoolWriter(os.fdopen(handle, "wb"), path, max_bytes)
        try:
            yield writer
        except BaseException:
            writer.file.close()
            discard(path)
            raise
        writer.file.close()


class SpoolWriter:
    def __init__(self, file: BinaryIO, path: str, max_bytes: int) -> None:
        self.file, self.path, self.max_bytes = file, path, max_bytes
        self._hash = hashlib.sha256()
        self._size = 0

    def write(self, chunk: bytes) -> None:
        self._size += len(chunk)
        if self._size > self.max_bytes:
            raise TooLarge(None)
        self._hash.update(chunk)
        self.file.write(chunk)

    def done(self) -> SpooledContent:
        return SpooledContent(self.path, "sha256:" + self._hash.hexdigest(), self._size)


def _remove_if_abandoned(directory: str) -> None:
    try:
        with open(os.path.join(directory, ".lock"), "rb") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except FileNotFoundError:
        pass  # no lock: a directory being set up right now, or not ours; left alone
    except OSError:
        return  # locked: its process is alive
    else:
        shutil.rmtree(directory, ignore_errors=True)


def discard(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


@dataclasses.dataclass(frozen=True)
class _Known:
    etag: str | None
    last_modified: str | None
    content: SpooledContent


class ArtifactFetcher:
    """One per operator: the download slots, the spool, and what each URL answered last."""

    def __init__(self, settings: OperatorSettings) -> None:
        self._settings = settings
        self.spool = Spool(settings.artifact_spool_dir)
        self._slots = asyncio.Semaphore(settings.artifact_fetch_concurrency)
        self._known: collections.OrderedDict[str, _Known] = collections.OrderedDict()

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        async with self._slots:
            yield

    async def fetch(self, url: str, *, max_bytes: int, timeout_seconds: float) -> SpooledContent:
        """The bytes behind an http(s) URL, spooled. Raises UrlRefused, HttpStatus, TooLarge,
        aiohttp.ClientError, TimeoutError (their texts may quote URLs: show them through
        `without_url_secrets`)."""
        try:
            target = yarl.URL(url, encoded=True)
            target.port  # noqa: B018 - parses the port, so a bad one is refused here
        except ValueError:
            raise BadUrl() from None
        async with self.slot():
            known = self._known.get(url)
            if known is not None and not os.path.exists(known.content.path):
                known = None
            resolver = CheckedResolver(allow_loopback=self._settings.artifact_url_allow_loopback)
            try:
                return await self._get(url, target, known, max_bytes, timeout_seconds, resolver)
            finally:
                await resolver.close()  # the connector closes only a resolver it made itself

    async def _get(
        self,
        url: str,
        target: yarl.URL,
        known: _Known | None,
        max_bytes: int,
        timeout_seconds: float,
        resolver: CheckedResolver,
    ) -> SpooledContent:
        headers = {}
        if known is not None and known.etag:
            headers["If-None-Match"] = known.etag
        elif known is not None and known.last_modified:
            headers["If-Modified-Since"] = known.last_modified
        connector = aiohttp.TCPConnector(resolver=resolver, use_dns_cache=False)
        timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        async with (
            aiohttp.ClientSession(connector=connector, timeout=timeout) as session,
            self._follow(session, target, headers) as response,
        ):
            if response.status == 304 and known is not None:
                self._known.move_to_end(url)
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
        self, session: aiohttp.ClientSession, url: yarl.URL, headers: dict[str, str]
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        for hop in range(MAX_REDIRECTS + 1):
            self._check(url, redirected=hop > 0)
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

    def _check(self, url: yarl.URL, *, redirected: bool) -> None:
        # The caller names the URL itself; a redirect hop is named here (shown: no secrets).
        hop = f"a redirect to {shown_url(str(url))}: " if redirected else ""
        if url.scheme != "https":
            raise UrlRefused(f"{hop}artifacts are read over https:// only")
        host = (url.host or "").strip("[]")
        try:
            ipaddress.ip_address(host.split("%", 1)[0])
        except ValueError:
            return  # a name: checked on its addresses by CheckedResolver, at connect time
        reason = address_refusal(host, allow_loopback=self._settings.artifact_url_allow_loopback)
        if reason is not None:
            raise UrlRefused(f"{hop}{host} is {reason}")

    def _remember(self, url: str, known: _Known) -> None:
        previous = self._known.pop(url, None)
        if previous is not None and previous.content.path != known.content.path:
            discard(previous.content.path)
        self._known[url] = known
        while len(self._known) > CACHE_ENTRIES:
            _, evicted = self._known.popitem(last=False)
            discard(evicted.content.path)


def _validator(response: aiohttp.ClientResponse, name: str) -> str | None:
    value: Any = response.headers.get(name)
    return str(value) if value else None

"""Where `https://` artifacts may be read from: refused addresses, numeric host forms, the allow-list.

Checked on every redirect hop, for IP literals before connecting and for names on the addresses they
resolve to, in the resolver the connection uses (a DNS answer cannot differ between check and
connect).
"""

from __future__ import annotations

import dataclasses
import ipaddress
import socket
from collections.abc import Iterable

import aiohttp
import aiohttp.abc

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_NAT64 = ipaddress.ip_network("64:ff9b::/96")
# The instance's credentials live there: AWS-style IPv4 and IPv6, and OCI's IPv6 metadata range
# (fd00:c1::a9fe:a9fe is the IPv6 face of 169.254.169.254 on OCI instances).
_METADATA = (
    ipaddress.ip_network("169.254.169.254/32"),
    ipaddress.ip_network("fd00:ec2::254/128"),
    ipaddress.ip_network("fd00:c1::/64"),
)
ALLOW_LIST_SETTING = "OCIDS_ARTIFACT_URL_ALLOWED_HOSTS"


class UrlRefused(Exception):
    """The URL (or a redirect hop) points somewhere artifacts are never read from. Message: shown URL."""


def _judged(ip: IPAddress) -> IPAddress:
    """IPv4 carried in IPv6 reaches the IPv4 address: judge that one."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None or ip.sixtofour is not None:
            return ip.ipv4_mapped or ip.sixtofour  # type: ignore[return-value]
        if ip in _NAT64:
            return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip


def address_refusal(address: str, *, allow_loopback: bool) -> str | None:
    """Why an artifact is never read from this address, or None."""
    ip = _judged(ipaddress.ip_address(address.split("%", 1)[0]))
    if any(ip in network for network in _METADATA):
        return "a cloud metadata address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_loopback:
        return None if allow_loopback else "a loopback address"
    if ip.is_unspecified or ip.is_multicast or ip.is_reserved:
        return "not a unicast address"
    return None


def is_private(address: str) -> bool:
    """Not on the public internet: a failure to reach it must not say why (the state of its ports)."""
    return not _judged(ipaddress.ip_address(address.split("%", 1)[0])).is_global


def ip_literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return None


def legacy_ipv4(host: str) -> bool:
    """A numeric host the C resolver reads as IPv4 although it is no dotted quad (`0x7f.1`,
    `2130706433`, `017700000001`, `127.1`): whether it gets past a check depends on the HTTP client's
    version, so it is refused outright."""
    if ip_literal(host) is not None:
        return False
    try:
        socket.inet_aton(host)
    except (OSError, ValueError):
        return False
    return True


@dataclasses.dataclass(frozen=True)
class HostAllowList:
    """OCIDS_ARTIFACT_URL_ALLOWED_HOSTS: exact names, `*.suffix` names, and CIDRs; empty allows all.

    A name is allowed by a name pattern, or when every address it resolves to is in an allowed CIDR.
    It only narrows: metadata, link-local and loopback addresses stay refused whatever it lists."""

    names: frozenset[str] = frozenset()
    suffixes: tuple[str, ...] = ()
    networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def parse(cls, entries: Iterable[str]) -> HostAllowList:
        names, suffixes, networks = set(), [], []
        for entry in (e.strip().lower().rstrip(".") for e in entries):
            if not entry:
                continue
            if entry.startswith("*."):
                suffixes.append(entry[1:])
            elif any(c == "/" for c in entry) or ip_literal(entry) is not None:
                networks.append(ipaddress.ip_network(entry, strict=False))
            else:
                names.add(entry)
        return cls(frozenset(names), tuple(suffixes), tuple(networks))

    @property
    def open(self) -> bool:
        return not (self.names or self.suffixes or self.networks)

    def allows_name(self, host: str) -> bool:
        host = host.lower().rstrip(".")
        return self.open or host in self.names or any(host.endswith(s) for s in self.suffixes)

    def allows_address(self, address: str) -> bool:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        return self.open or any(ip.version == n.version and ip in n for n in self.networks)


class CheckedResolver(aiohttp.abc.AbstractResolver):
    """The connector's resolver: refuses a name whose addresses include a refused one, or (with an
    allow-list) one outside it. Remembers whether any address was private."""

    def __init__(
        self,
        *,
        allow_loopback: bool,
        inner: aiohttp.abc.AbstractResolver | None = None,
        allowed: HostAllowList | None = None,
    ) -> None:
        self._allow_loopback = allow_loopback
        self._inner = inner or aiohttp.DefaultResolver()
        self._allowed = allowed or HostAllowList()
        self.private_seen = False

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[aiohttp.abc.ResolveResult]:
        if legacy_ipv4(host):
            raise UrlRefused(f"host {host} is a numeric IPv4 form other than a dotted quad")
        results = await self._inner.resolve(host, port, family)
        by_name = self._allowed.allows_name(host)
        for result in results:
            address = result["host"]
            self.private_seen = self.private_seen or is_private(address)
            reason = address_refusal(address, allow_loopback=self._allow_loopback)
            if reason is not None:
                raise UrlRefused(f"host {host} resolves to {address}, {reason}")
            if not by_name and not self._allowed.allows_address(address):
                raise UrlRefused(f"host {host} is not in {ALLOW_LIST_SETTING}")
        return results

    async def close(self) -> None:
        await self._inner.close()

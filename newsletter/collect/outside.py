"""Keep third-party URLs outside the network collection runs in.

A picture's URL comes from a feed's content, which anyone may write: fetching it blindly
would let a feed make the collector send requests to the machine itself (loopback), the
local network (private ranges), a cloud's metadata service (link-local 169.254.169.254)
or other reserved addresses. ``guard`` is an httpx request hook, so it runs before every
request, redirects included: it resolves the host and refuses the request when any of its
addresses is not a public one, unless the URL is on a host and port the owner configured
as a feed (an internal feed's own pictures are fine: its owner chose to fetch from there).

What it does not cover: a name that resolves to a public address when checked and to an
internal one a moment later, when httpx connects (DNS rebinding); the window is the time
between two lookups.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable
from urllib.parse import urlsplit

import httpx

_PORTS = {"http": 80, "https": 443}


class Refused(Exception):
    """A URL on an address inside the network (or with a scheme other than HTTP(S)); it
    was not fetched."""


class Unresolved(Exception):
    """A host name that does not resolve now (it may later)."""


def origin(url: str) -> str | None:
    """``host:port`` of an HTTP(S) URL (the default port made explicit, the host in lower
    case), or None for another URL."""
    try:
        parts = urlsplit(url)
        scheme, host, port = parts.scheme.lower(), parts.hostname, parts.port
    except ValueError:  # a port out of range, say
        return None
    if scheme not in _PORTS or not host:
        return None
    return f"{host}:{port or _PORTS[scheme]}"


def internal(address: str) -> bool:
    """Whether an IP address is not on the public internet: loopback, private, link-local,
    shared, reserved, unspecified, multicast (``ipaddress``, IANA special-purpose
    registries); an IPv4 address written as IPv6 (``::ffff:127.0.0.1``) counts as itself."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone (fe80::1%eth0)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast


def guard(trusted: Iterable[str]) -> Callable[[httpx.Request], Awaitable[None]]:
    """An httpx request hook refusing requests to internal addresses: raises ``Refused``
    (nothing is sent), or ``Unresolved`` when the host does not resolve. URLs whose
    ``origin`` is in ``trusted`` are let through as they are."""
    allowed = frozenset(trusted)

    async def check(request: httpx.Request) -> None:
        url = str(request.url)
        where = origin(url)
        if where is None:
            raise Refused(f"{url}: not an HTTP(S) URL")
        if where in allowed:
            return
        host, port = request.url.host, request.url.port or _PORTS[request.url.scheme]
        try:
            found = await asyncio.get_running_loop().getaddrinfo(
                host, port, type=socket.SOCK_STREAM
            )
        except (socket.gaierror, UnicodeError) as exc:
            raise Unresolved(f"{host}: {exc}") from exc
        for *_, sockaddr in found:
            if internal(str(sockaddr[0])):
                raise Refused(f"{url}: {host} is at an internal address ({sockaddr[0]})")

    return check

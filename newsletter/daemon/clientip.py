"""Who is asking: the client's IP address behind ``trusted_proxies``.

The peer's address, or, when the peer is a trusted reverse proxy, the last address in
``X-Forwarded-For`` that is not one (each proxy appends the address it got the request
from; the hops before the last untrusted one are the client's to write). A header from any
other peer is ignored: any client can send one.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from aiohttp import web


def client_ip(request: web.Request, trusted: Sequence[str]) -> str:
    """The client's address: the peer's, or, when the peer is a trusted proxy, the last
    ``X-Forwarded-For`` hop that is not one (the hops before it are the client's to write)."""
    forwarded = ",".join(request.headers.getall("X-Forwarded-For", []))
    return forwarded_client(request.remote or "unknown", forwarded, trusted)


def forwarded_client(peer: str, forwarded: str, trusted: Sequence[str]) -> str:
    """``client_ip``'s rule over plain values (pure)."""
    networks = [ipaddress.ip_network(t) for t in trusted]

    def is_trusted(address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in networks)

    if not forwarded or not is_trusted(peer):
        return peer
    client = peer
    for hop in reversed([h.strip() for h in forwarded.split(",") if h.strip()]):
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            return client  # a garbled hop: trust nothing before it
        client = hop
        if not is_trusted(hop):
            return hop
    return client

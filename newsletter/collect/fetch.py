"""Fetch feeds over HTTP with httpx, concurrently and within bounds.

Each fetch sends the stored validators (a 304 costs a round trip and no body), follows
redirects and reports a permanent one (301/308 from the first hop on) so the caller can
remember the new URL, treats 410 as "gone", streams the body and stops past a size limit
(counted after gzip decoding, so a compressed bomb is bounded too), and has one deadline
for the whole exchange (a server trickling bytes cannot hold a run). Failures are values,
never exceptions: one bad feed costs nothing else.
"""

from __future__ import annotations

import asyncio
import itertools
import os
from collections.abc import Sequence
from dataclasses import dataclass

import httpx

from .config import FetchLimits

MAX_REDIRECTS = 5
_PERMANENT = (301, 308)


@dataclass(frozen=True, slots=True)
class FeedRequest:
    """``key`` is the feed as configured; ``url`` where to fetch it now."""

    key: str
    url: str
    etag: str | None = None
    last_modified: str | None = None


@dataclass(frozen=True, slots=True)
class FeedResponse:
    key: str
    url: str  # the final URL (after redirects): relative links resolve against it
    body: bytes = b""
    content_type: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    moved_to: str | None = None  # the target of a permanent redirect
    not_modified: bool = False
    gone: bool = False
    error: str | None = None  # why the feed could not be fetched


def fetch_feeds(
    requests: Sequence[FeedRequest],
    limits: FetchLimits,
    transport: httpx.AsyncBaseTransport | None = None,
) -> list[FeedResponse]:
    """Fetch every feed, at most ``limits.concurrency`` at once; results in request order."""
    if not requests:
        return []
    return asyncio.run(fetch_all(requests, limits, transport))


async def fetch_all(
    requests: Sequence[FeedRequest],
    limits: FetchLimits,
    transport: httpx.AsyncBaseTransport | None = None,
) -> list[FeedResponse]:
    gate = asyncio.Semaphore(limits.concurrency)
    async with http_client(limits, _ACCEPT, transport=transport) as client:

        async def one(request: FeedRequest) -> FeedResponse:
            async with gate:
                return await _fetch(client, request, limits)

        return list(await asyncio.gather(*(one(r) for r in requests)))


def http_client(
    limits: FetchLimits,
    accept: str,
    timeout: float | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> httpx.AsyncClient:
    """The client every fetch of the collect step uses: our User-Agent, redirects followed
    (at most ``MAX_REDIRECTS``), ``limits.concurrency`` connections, ``timeout`` seconds
    (default ``limits.timeout``) for each phase of a request."""
    return httpx.AsyncClient(
        headers={"User-Agent": limits.user_agent, "Accept": accept},
        timeout=httpx.Timeout(limits.timeout if timeout is None else timeout),
        follow_redirects=True,
        max_redirects=MAX_REDIRECTS,
        limits=httpx.Limits(max_connections=limits.concurrency),
        transport=transport,
    )


_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/feed+json, application/xml;q=0.9,"
    " application/json;q=0.8, text/xml;q=0.8, */*;q=0.5"
)


async def _fetch(
    client: httpx.AsyncClient, request: FeedRequest, limits: FetchLimits
) -> FeedResponse:
    headers = {}
    if request.etag:
        headers["If-None-Match"] = request.etag
    if request.last_modified:
        headers["If-Modified-Since"] = request.last_modified
    fail = lambda why: FeedResponse(request.key, request.url, error=why)  # noqa: E731
    try:
        async with asyncio.timeout(limits.timeout):
            async with client.stream("GET", request.url, headers=headers) as response:
                return await _read(request, response, limits.max_bytes)
    except (TimeoutError, httpx.TimeoutException):
        return fail(f"timed out after {limits.timeout:g} s")
    except httpx.TooManyRedirects:
        return fail(f"more than {MAX_REDIRECTS} redirects")
    except httpx.ConnectError as exc:
        return fail(f"cannot connect: {_reason(exc)}")
    except httpx.HTTPError as exc:
        return fail(f"HTTP error: {_reason(exc)}")


async def _read(request: FeedRequest, response: httpx.Response, max_bytes: int) -> FeedResponse:
    final = str(response.url)
    common = {
        "key": request.key,
        "url": final,
        "moved_to": _permanent_target(request.url, response),
    }
    if response.status_code == 304:
        return FeedResponse(
            **common,
            not_modified=True,
            etag=request.etag,
            last_modified=request.last_modified,
        )
    if response.status_code == 410:
        return FeedResponse(**common, gone=True, error="HTTP 410 Gone: the feed was removed")
    if response.status_code >= 400 or response.status_code < 200:
        return FeedResponse(
            **common, error=f"HTTP {response.status_code} {response.reason_phrase}".strip()
        )
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        return FeedResponse(**common, error=_too_big(max_bytes))
    chunks, size = [], 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > max_bytes:
            return FeedResponse(**common, error=_too_big(max_bytes))
        chunks.append(chunk)
    return FeedResponse(
        **common,
        body=b"".join(chunks),
        content_type=response.headers.get("Content-Type"),
        etag=response.headers.get("ETag"),
        last_modified=response.headers.get("Last-Modified"),
    )


def _permanent_target(start: str, response: httpx.Response) -> str | None:
    """Where the permanent redirects at the start of the chain lead (None: no such move)."""
    hops = [*response.history, response]
    target = None
    for hop, after in itertools.pairwise(hops):
        if hop.status_code not in _PERMANENT:
            break
        target = str(after.url)
    return target if target and target != start else None


def _too_big(max_bytes: int) -> str:
    return f"response larger than {max_bytes:,} bytes (the feed_max_bytes setting)"


def _reason(exc: BaseException) -> str:
    """The most telling words: the OS error under httpx's wrapper ("Connection refused",
    "Name or service not known") when there is one."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, OSError) and cause.strerror:
            # asyncio says "Connect call failed (addr)"; the errno says what happened.
            plain = isinstance(cause.errno, int) and cause.errno > 0
            return os.strerror(cause.errno) if plain else cause.strerror
        cause = cause.__cause__ or cause.__context__
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0][:300]

"""The size of each article's picture, learnt at collection, so the edition can give its
``<img>`` a ``width`` and ``height`` that keep the picture's shape in every mail client.

A feed's picture is measured over HTTP from its first bytes: a request for the first
64 KB (``Range``), and for the bytes up to 256 KB when the size is not in those, read as
a stream and stopped as soon as Pillow finds the size in the header (``PIL.Image.open``
reads only the header: nothing is decoded). Each picture has a few seconds, all of a
run's pictures share a budget, and they are fetched like feeds, a few at a time.

Measuring a picture ends one of four ways: a size; known missing (``MISSING``: not found
or gone, a text page, an internal address, a whole answer shorter than ``FIRST_BYTES``
that gives no size: not a picture, or a size Pillow refuses as a decompression bomb), so
the edition leaves the picture out; no size to be had from a longer answer (a header past
``MAX_BYTES``), so the edition gives a width only; these three recorded so the URL is not
fetched again (``store.images``); or not now (too slow, a transport error, HTTP
408/429/5xx, or not reached within the run's budget), recorded nowhere, so the next run
measures it again while its article waits for an edition. A picture of an article file
given as a path relative to the file is measured from the file.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import io
import re
import warnings
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from PIL import Image

from ..models import Article
from ..store.images import MISSING, ImageSizes, Size
from .config import FetchLimits
from .fetch import http_client
from .outside import Refused, Unresolved, guard

FIRST_BYTES = 64 * 1024  # the header of nearly every web picture is well within this
MAX_BYTES = 256 * 1024  # at most: past a large ICC profile, say, a JPEG's size comes late
TIMEOUT = 5.0  # seconds for one picture, at most (less when feed_timeout is lower)
BUDGET = 20.0  # seconds for all the pictures of a run; those left over wait for the next
# The formats pictures on the web come in (Pillow's names); others are not tried.
FORMATS = ("JPEG", "PNG", "GIF", "WEBP", "AVIF", "BMP")
_ACCEPT = "image/avif,image/webp,image/png,image/jpeg,image/gif,image/*;q=0.8"


def size_of(data: bytes) -> Size | None:
    """(width, height) in pixels of the picture whose first bytes are ``data`` as it is
    shown (after its EXIF orientation), or None when they are not (yet) enough for Pillow
    to read the size, or not a picture."""
    try:
        with warnings.catch_warnings():  # a picture of over 89 M pixels: a size all the same
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=_formats()) as image:
                width, height = image.size
                turned = _turned(image)
    # Third-party bytes: Pillow's readers raise many kinds (OSError for "cannot identify",
    # SyntaxError, ValueError, EOFError on a cut header, DecompressionBombError for a size
    # it refuses). Any of them means no size, never a failed collection.
    except Exception:
        return None
    if width <= 0 or height <= 0:
        return None
    return (height, width) if turned else (width, height)


def _turned(image: Image.Image) -> bool:
    """Whether the picture's EXIF Orientation (tag 0x0112) turns it a quarter: values 5 to
    8 (EXIF 2.32, section 4.6.5; what ``ImageOps.exif_transpose`` applies) are shown with
    width and height swapped. The tag sits in the header (APP1 for JPEG), so the first
    bytes tell; an EXIF block Pillow cannot read counts as none."""
    try:
        return image.getexif().get(0x0112) in (5, 6, 7, 8)
    except Exception:  # third-party bytes again: any reader error means no orientation
        return False


@functools.cache
def _formats() -> tuple[str, ...]:
    """``FORMATS`` this Pillow reads (AVIF needs a Pillow built with libavif)."""
    Image.init()
    return tuple(f for f in FORMATS if f in Image.OPEN)


def size_of_file(path: Path) -> Size | None:
    """The size of a picture file, reading its header only (None: not a readable
    picture)."""
    try:
        with path.open("rb") as file:
            return size_of(file.read(MAX_BYTES))
    except OSError:
        return None


def local_picture(article: Article, folder: Path) -> Article:
    """``article`` (from a file in ``folder``) with the size of its picture when that is a
    path relative to the file that names a picture file (``MISSING`` when no such file);
    else unchanged."""
    src = article.image_url
    if not src or urlsplit(src).scheme or src.startswith(("/", "\\")):
        return article
    size = size_of_file(folder / src) if (folder / src).is_file() else MISSING
    if size is None:
        return article
    return dataclasses.replace(article, image_width=size[0], image_height=size[1])


class TryLater(Exception):
    """Measuring a picture failed for now (a timeout, a transport error, HTTP 408, 429 or
    5xx): it may work on a later run, so nothing is recorded."""


# Statuses that say "not now" rather than "not here" (RFC 9110 15.5.9, 15.6; RFC 6585 4).
_TRY_LATER = frozenset({408, 429})


async def measure(
    urls: Iterable[str],
    limits: FetchLimits,
    transport: httpx.AsyncBaseTransport | None = None,
    budget: float = BUDGET,
    trusted: Iterable[str] = (),
) -> dict[str, Size | None]:
    """Measure pictures over HTTP, ``limits.concurrency`` at a time: URL → size, ``MISSING``
    when there is no picture (404/410, not a picture, on an internal address: see
    ``outside.guard``), or None when its size cannot be read (``_measure_one``);
    ``trusted``: the ``host:port`` of the feeds, where internal addresses are fine. URLs
    that failed for now (``TryLater``) or were still waiting when ``budget`` seconds had
    passed are left out: they were not measured, and a later run tries them again."""
    wanted = sorted(set(urls))
    if not wanted:
        return {}
    found: dict[str, Size | None] = {}
    gate = asyncio.Semaphore(limits.concurrency)
    timeout = min(limits.timeout, TIMEOUT)
    async with http_client(limits, _ACCEPT, timeout, transport) as client:
        client.event_hooks = {"request": [guard(trusted)], "response": []}  # every hop

        async def one(url: str) -> None:
            async with gate:
                with contextlib.suppress(TryLater):
                    found[url] = await _measure_one(client, url, timeout)

        tasks = [asyncio.create_task(one(url)) for url in wanted]
        _, late = await asyncio.wait(tasks, timeout=budget)
        for task in late:
            task.cancel()
        await asyncio.gather(*late, return_exceptions=True)
    return found


async def _measure_one(client: httpx.AsyncClient, url: str, timeout: float) -> Size | None:
    """The picture's size; ``MISSING`` when there is no picture (no bytes: 404, 410, a text
    page; fewer bytes than ``FIRST_BYTES``, the whole answer, and no size in them; not
    http(s); a refused address); None when no size can be read from a longer answer (a
    header past ``MAX_BYTES``). Raises ``TryLater``.

    The first ``FIRST_BYTES`` hold the size of nearly every picture; when a server sent
    them as a part (206) and more follows, one more part up to ``MAX_BYTES`` is asked for
    (a JPEG's size comes after its ICC profile, which can be a few hundred KB)."""
    if urlsplit(url).scheme.lower() not in ("http", "https"):
        return MISSING
    try:
        async with asyncio.timeout(timeout):
            data, more = await _get(client, url, b"")
            if more and size_of(data) is None:
                data, _ = await _get(client, url, data)
    except Refused:
        return MISSING
    except (TimeoutError, httpx.HTTPError, Unresolved) as exc:
        raise TryLater(str(exc) or type(exc).__name__) from exc
    size = size_of(data)
    return MISSING if size is None and len(data) < FIRST_BYTES else size


async def _get(client: httpx.AsyncClient, url: str, before: bytes) -> tuple[bytes, bool]:
    """Ask for the picture's bytes after ``before`` (RFC 9110 14: ``Range``), up to
    ``FIRST_BYTES`` at first, ``MAX_BYTES`` in all; return the bytes from the start as far
    as needed for the size, and whether a further part could be asked for. No bytes at
    all: the answer has none to give (404, 410, other refusals, an encoding we did not
    ask for, a text page such as a "not found" page sent as 200). Raises ``TryLater`` for
    HTTP 408, 429 and 5xx."""
    start = len(before)
    stop = MAX_BYTES if start else FIRST_BYTES
    headers = {"Range": f"bytes={start}-{stop - 1}", "Accept-Encoding": "identity"}
    async with client.stream("GET", url, headers=headers) as response:
        status = response.status_code
        if status in _TRY_LATER or status >= 500:
            raise TryLater(f"HTTP {status}")
        if response.headers.get("Content-Encoding", "identity").lower() != "identity":
            return b"", False
        if response.headers.get("Content-Type", "").lower().startswith("text/"):
            return b"", False
        if status == 200:  # the whole picture: read on up to MAX_BYTES
            return await _read_size(response, b"", MAX_BYTES), False
        first, total = _content_range(response.headers.get("Content-Range", ""))
        if status != 206 or first != start:
            return b"", False
        data = await _read_size(response, before, stop)
        return data, len(data) >= stop and (total is None or total > stop)


def _content_range(value: str) -> tuple[int | None, int | None]:
    """(first byte, complete length) of a ``Content-Range`` (RFC 9110 14.4); None for
    what it does not say."""
    found = re.fullmatch(r"\s*bytes\s+(\d+)-\d+/(\d+|\*)\s*", value, re.IGNORECASE)
    if found is None:
        return None, None
    total = found[2]
    return int(found[1]), int(total) if total.isdigit() else None


async def _read_size(response: httpx.Response, data: bytes, limit: int) -> bytes:
    """``data`` and the body after it, read until they give the size, at most ``limit``
    bytes in all."""
    async for chunk in response.aiter_raw():
        data += chunk[: limit - len(data)]
        if size_of(data) is not None or len(data) >= limit:
            break
    return data


async def size_pictures(
    articles: Sequence[Article],
    ledger: ImageSizes,
    limits: FetchLimits,
    now: datetime,
    transport: httpx.AsyncBaseTransport | None = None,
    *,
    trusted: Iterable[str] = (),
) -> tuple[list[Article], int]:
    """``articles`` (stored, not yet in an edition) with their pictures' sizes: known ones
    from the store, the others measured now, with the pictures of earlier articles still
    waiting to be measured (``ImageSizes.unmeasured``); the store records each final
    outcome and gives the sizes to every waiting article (``ImageSizes.record``).
    ``trusted``: the feeds' ``host:port`` (``measure``). Also returns how many pictures
    are still not measured (a later run tries them again)."""
    wanted = {a.image_url for a in articles if a.image_url and a.image_width is None}
    sizes = ledger.known(wanted)
    todo = (wanted - sizes.keys()) | set(ledger.unmeasured())
    sizes |= await measure(todo, limits, transport, trusted=trusted)
    ledger.record(sizes, now)
    return [_sized(a, sizes.get(a.image_url or "")) for a in articles], len(todo - sizes.keys())


def sized_for_preview(
    articles: Sequence[Article],
    ledger: ImageSizes | None,
    limits: FetchLimits,
    trusted: Iterable[str] = (),
) -> list[Article]:
    """``articles`` with the sizes ``size_pictures`` would give them, recording nothing
    (a preview shows the pictures as the send will)."""
    wanted = {a.image_url for a in articles if a.image_url and a.image_width is None}
    sizes = ledger.known(wanted) if ledger is not None else {}
    if unknown := wanted - sizes.keys():
        sizes |= asyncio.run(measure(unknown, limits, trusted=trusted))
    return [_sized(a, sizes.get(a.image_url or "")) for a in articles]


def _sized(article: Article, size: Size | None) -> Article:
    if size is None or article.image_width is not None:
        return article
    return dataclasses.replace(article, image_width=size[0], image_height=size[1])

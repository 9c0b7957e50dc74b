"""Feed bytes -> feed items (RSS 0.9x/1.0/2.0, Atom, JSON Feed), and which of them are new.

Pure (see DESIGN.md): the caller fetches the bytes and passes them with the URL they came
from, the time of the run and the list's time zone. feedparser only ever gets a byte
stream, never a URL or a path (given a str or bytes it would fetch or open it itself); it
reads the structure, while the dates are read from the text as written (``feeddates``) and
every text field is normalised (``plaintext``). Every problem that makes a feed unusable is
a ``ParseError`` naming the URL. How an entry becomes an item, and its identity, is
``feeditems``; JSON Feed is ``jsonfeed``. ``select_new`` decides which items are taken,
and says why each other one is not.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

import feedparser

from ..errors import ParseError
from ..models import NotTakenReason
from .feeddates import read_date
from .feeditems import (
    FeedContext,
    FeedItem,
    FeedSource,
    ParsedFeed,
    RawEntry,
    as_html,
    build_feed,
    http_url,
    normalise_link,
)
from .feedtext import clean, image_url
from .feedxml import not_a_feed, readable_anyway, refuse_entities, xml_error
from .jsonfeed import parse_json_feed
from .plaintext import has_tags, html_paragraphs, plain_text

__all__ = ["FeedItem", "FeedSource", "ParsedFeed", "Selection", "normalise_link", "parse_feed"]


@dataclass(frozen=True, slots=True)
class Selection:
    """What ``select_new`` makes of a feed's items: ``take`` (to store, newest first),
    ``leave`` (remembered as seen, never taken: a first run's archive, over ``max_items``),
    and every item not taken with why (``leave`` included)."""

    take: list[FeedItem]
    leave: list[FeedItem]
    not_taken: list[tuple[FeedItem, NotTakenReason]]


def parse_feed(
    data: bytes,
    *,
    url: str,
    content_type: str | None,
    source: FeedSource,
    now: datetime,
    zone: tzinfo = UTC,
) -> ParsedFeed:
    """Parse a feed document fetched from ``url`` at ``now``. Every text field comes out
    as plain text (``plaintext``); dates are read by ``feeddates``, a date without a zone
    in ``zone`` (the list's time zone).

    Raises:
        ParseError: not a feed (an HTML page, say), invalid beyond reading any item, or it
            declares XML entities (refused: entity expansion attacks); names ``url``.
    """
    if _looks_like_json(data, content_type):
        return parse_json_feed(data, url=url, source=source, now=now, zone=zone)
    refuse_entities(data, url)
    headers = {"content-location": url} | ({"content-type": content_type} if content_type else {})
    # feedparser's sanitizer keeps the text of elements it strips (an iframe's fallback
    # text, say); plaintext drops those elements whole, so it does the sanitising.
    parsed = feedparser.parse(io.BytesIO(data), response_headers=headers, sanitize_html=False)
    if not parsed.get("entries") and not parsed.get("version"):
        raise ParseError(url, not_a_feed(data, url, content_type, parsed))
    title = plain_text(parsed.feed.get("title", "")) or None
    context = FeedContext(source, source.section or title or source.name, title or source.name)
    raw = [_xml_entry(e, url, zone, now.year) for e in parsed.entries]
    feed = build_feed(title, raw, context, now, zone)
    problem = parsed.get("bozo_exception")
    if not feed.items and problem and not readable_anyway(problem):
        # Broken XML is read leniently; only when nothing could be read is the feed failed.
        missing = f"; {feed.nothing}" if feed.empty else ""
        raise ParseError(url, f"invalid XML: {xml_error(problem)}{missing}")
    return feed


def select_new(
    items: Iterable[FeedItem],
    *,
    seen: set[str],
    first_run: bool,
    now: datetime,
    window: timedelta,
    max_items: int | None,
    elsewhere: frozenset[str] | set[str] = frozenset(),
) -> Selection:
    """Choose which of a feed's items to take, and say why each other one is not taken.

    ``seen`` are the keys known before (the database), ``elsewhere`` those other sources
    brought in this run. An item with a known key is not taken: a duplicate when another
    source has it (this run, or before the feed's first run) or the feed lists it twice,
    else already seen. On a source's first run only items dated within ``window`` before
    ``now`` are taken (undated ones count as archive), so a new feed does not flood the
    next edition; the left ones are remembered as seen. At most ``max_items`` are taken,
    the newest.
    """
    fresh: list[FeedItem] = []
    not_taken: list[tuple[FeedItem, NotTakenReason]] = []
    known = set(seen)
    for item in items:
        if known.isdisjoint(item.keys):
            fresh.append(item)
            known.update(item.keys)
        elif first_run or not elsewhere.isdisjoint(item.keys) or seen.isdisjoint(item.keys):
            not_taken.append((item, NotTakenReason.DUPLICATE))
        else:
            not_taken.append((item, NotTakenReason.SEEN))
    take: list[FeedItem] = []
    leave: list[tuple[FeedItem, NotTakenReason]] = []
    for item in fresh:
        published = item.article.published
        if not first_run or (item.dated and published is not None and published >= now - window):
            take.append(item)
        else:
            reason = NotTakenReason.OLD if item.dated else NotTakenReason.UNDATED
            leave.append((item, reason))
    take.sort(key=lambda i: i.article.published or now, reverse=True)
    if max_items is not None:
        leave += [(item, NotTakenReason.OVER_LIMIT) for item in take[max_items:]]
        take = take[:max_items]
    return Selection(take, [item for item, _ in leave], not_taken + leave)


# --- RSS / Atom through feedparser -----------------------------------------------------------


def _xml_entry(entry: Any, url: str, zone: tzinfo, year: int) -> RawEntry:
    link = http_url(entry.get("link"), url)
    html = _entry_html(entry)
    # The date as written, read by feeddates (feedparser's reading invents missing parts).
    # dict.get: FeedParserDict.get maps updated<->published itself, with a warning.
    written = (dict.get(entry, key) for key in ("published", "updated", "created"))
    dates = (read_date(text, zone=zone, year=year) for text in written if isinstance(text, str))
    return RawEntry(
        guid=clean(str(entry.get("id", ""))) or None,
        link=link,
        title=_title(entry),
        html=html,
        author=plain_text(entry.get("author", "")) or None,
        published=next((d for d in dates if d is not None), None),
        image=_media_image(entry, link or url),
    )


def _entry_html(entry: Any) -> str:
    """The summary, else the (first) full content, as HTML. Text declared plain that holds
    markup (Atom ``type="text"`` with escaped HTML, as some generators write it) is HTML."""
    for detail in [entry.get("summary_detail"), *entry.get("content", [])]:
        if detail and str(detail.get("value", "")).strip():
            value = detail["value"]
            if detail.get("type") == "text/plain" and not has_tags(value):
                return as_html(value)
            return value
    return ""


def _title(entry: Any) -> str:
    detail = entry.get("title_detail") or {}
    value = entry.get("title", "")
    if detail.get("type") in ("text/html", "application/xhtml+xml"):
        return " ".join(html_paragraphs(value))
    return plain_text(value)


def _media_image(entry: Any, base: str) -> tuple[str, str | None] | None:
    candidates = [m.get("url") for m in entry.get("media_thumbnail", [])]
    candidates += [
        m.get("url") for m in entry.get("media_content", []) if m.get("medium") == "image"
    ]
    candidates += [
        link.get("href")
        for link in entry.get("links", [])
        if link.get("rel") == "enclosure" and str(link.get("type", "")).startswith("image/")
    ]
    for candidate in candidates:
        if candidate and (found := image_url(candidate, base)):
            return found, None
    return None


def _looks_like_json(data: bytes, content_type: str | None) -> bool:
    return "json" in (content_type or "").lower() or data.lstrip()[:1] == b"{"

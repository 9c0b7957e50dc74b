"""Feed bytes -> feed items (RSS 0.9x/1.0/2.0, Atom, JSON Feed), and which of them are new.

Pure (see DESIGN.md): the caller fetches the bytes and passes them with the URL they came
from and the time of the run. feedparser only ever gets a byte stream, never a URL or a
path (given a str or bytes it would fetch or open it itself). Every problem that makes a
feed unusable is a ``ParseError`` naming the URL.

Identity. Each item carries every key it can be recognised by: its id/guid (scoped to the
source unless it is itself a URI), its link (normalised; unless several items of the same
feed share it, as on feeds whose items all link to the home page), else a hash of title and
content. An item is the same article when *any* key matches one seen before, so an item
whose feed re-orders it, edits its text, changes its link or its guid, or which two sources
both carry, is one article. The article's id is its first key.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import feedparser

from ..errors import ParseError
from ..models import Article
from .feedtext import body_text, clean, first_image, html_paragraphs, image_url, lead, shorten
from .feedtext import text_paragraphs as plain_paragraphs
from .feedxml import not_a_feed, refuse_entities

FUTURE_SLACK = timedelta(minutes=10)  # clocks differ; beyond this a date is in the future
TITLE_FROM_TEXT_CHARS = 80  # untitled items (JSON Feed microposts) get a title from their text
_URI = re.compile(r"^(?:https?|tag|urn):\S+$", re.IGNORECASE)
_TRACKING_PARAMS = re.compile(r"^(?:utm_\w+|fbclid|gclid|mc_cid|mc_eid)$", re.I)


@dataclass(frozen=True, slots=True)
class FeedItem:
    """One item of a feed: the article it makes and every key that identifies it."""

    article: Article
    keys: tuple[str, ...]
    dated: bool  # the feed gave a usable date (else ``published`` is the time of the run)


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    title: str | None
    items: tuple[FeedItem, ...]


@dataclass(frozen=True, slots=True)
class FeedSource:
    """Who the bytes belong to: ``key`` scopes guids (the URL as configured, stable across
    redirects), ``name`` labels articles, ``section`` overrides the feed's title."""

    key: str
    name: str
    section: str | None = None


def parse_feed(
    data: bytes, *, url: str, content_type: str | None, source: FeedSource, now: datetime
) -> ParsedFeed:
    """Parse a feed document fetched from ``url`` at ``now``.

    Raises:
        ParseError: not a feed (an HTML page, say), invalid beyond reading any item, or it
            declares XML entities (refused: entity expansion attacks); names ``url``.
    """
    if _looks_like_json(data, content_type):
        return _parse_json_feed(data, url=url, source=source, now=now)
    refuse_entities(data, url)
    headers = {"content-location": url} | ({"content-type": content_type} if content_type else {})
    # feedparser's sanitizer keeps the text of elements it strips (an iframe's fallback
    # text, say); feedtext drops those elements whole, so it does the sanitising.
    parsed = feedparser.parse(io.BytesIO(data), response_headers=headers, sanitize_html=False)
    if not parsed.get("entries") and not parsed.get("version"):
        raise ParseError(url, not_a_feed(data, url, content_type, parsed))
    title = clean(parsed.feed.get("title", "")) or None
    section = source.section or title or source.name
    items = _items([_xml_entry(e, url) for e in parsed.entries], source, section, now)
    problem = parsed.get("bozo_exception")
    if not items and problem and not isinstance(problem, feedparser.ThingsNobodyCaresAboutButMe):
        # Broken XML is read leniently; only when nothing could be read is the feed failed.
        raise ParseError(url, f"invalid XML: {problem}")
    return ParsedFeed(title, items)


def select_new(
    items: Iterable[FeedItem],
    *,
    seen: set[str],
    first_run: bool,
    now: datetime,
    window: timedelta,
    max_items: int | None,
) -> tuple[list[FeedItem], list[FeedItem]]:
    """Split items not seen before into (take, leave); items already seen are in neither.

    On a source's first run only items dated within ``window`` before ``now`` are taken
    (undated ones count as archive), so a new feed does not flood the next edition; the
    left ones are remembered as seen. At most ``max_items`` are taken, the newest.
    """
    fresh: list[FeedItem] = []
    known = set(seen)
    for item in items:
        if known.isdisjoint(item.keys):  # also drops an item a feed lists twice
            fresh.append(item)
            known.update(item.keys)
    take: list[FeedItem] = []
    leave: list[FeedItem] = []
    for item in fresh:
        published = item.article.published
        recent = item.dated and published is not None and published >= now - window
        (take if recent or not first_run else leave).append(item)
    take.sort(key=lambda i: i.article.published or now, reverse=True)
    if max_items is not None:
        take, leave = take[:max_items], leave + take[max_items:]
    return take, leave


# --- one entry, whatever the format ----------------------------------------------------------


@dataclass(slots=True)
class _Raw:
    """An entry's fields before identity is decided (which needs the whole feed)."""

    guid: str | None
    link: str | None
    title: str
    html: str  # summary or content, as HTML (plain text is escaped into it)
    author: str | None
    published: datetime | None
    image: tuple[str, str | None] | None


def _items(
    raw: list[_Raw], source: FeedSource, section: str, now: datetime
) -> tuple[FeedItem, ...]:
    shared = {link for link, n in Counter(r.link for r in raw if r.link).items() if n > 1}
    items = []
    for r in raw:
        paragraphs = html_paragraphs(r.html)
        title = r.title or shorten(" ".join(paragraphs), TITLE_FROM_TEXT_CHARS)
        if not title:
            continue  # nothing to show: no title, no text
        keys = _keys(r, source.key, shared, title, paragraphs)
        published = _plausible(r.published, now)
        image = r.image or first_image(r.html, r.link or "")
        article = Article(
            id=keys[0],
            source=source.name,
            title=title,
            section=section,
            summary=lead(paragraphs) or title,
            body=body_text(paragraphs),
            url=r.link,
            author=r.author,
            published=published or now,
            image_url=image[0] if image else None,
            image_alt=image[1] if image else None,
        )
        items.append(FeedItem(article, keys, published is not None))
    return tuple(items)


def _keys(
    r: _Raw, scope: str, shared: set[str], title: str, paragraphs: Sequence[str]
) -> tuple[str, ...]:
    keys = []
    if r.guid:
        keys.append(r.guid if _URI.match(r.guid) else f"{scope}#{r.guid}")
    if r.link and r.link not in shared:
        keys.append(normalise_link(r.link))
    if not keys:
        digest = hashlib.sha256(f"{title}\n{' '.join(paragraphs)}".encode()).hexdigest()
        keys.append(f"sha256:{digest[:40]}")
    return tuple(dict.fromkeys(keys))


def normalise_link(link: str) -> str:
    """A link as an identity: lower-case scheme and host, no fragment, no tracking params."""
    parts = urlsplit(link.strip())
    query = urlencode(
        [
            (k, v)
            for k, v in parse_qsl(parts.query, keep_blank_values=True)
            if not _TRACKING_PARAMS.match(k)
        ]
    )
    netloc = (
        parts.netloc.lower().removesuffix(":80") if parts.scheme == "http" else parts.netloc.lower()
    )
    return urlunsplit((parts.scheme.lower(), netloc, parts.path or "/", query, ""))


def _plausible(published: datetime | None, now: datetime) -> datetime | None:
    """A date in the future (beyond clock skew) is not believed: the item is dated now."""
    if published is not None and published > now + FUTURE_SLACK:
        return now
    return published


# --- RSS / Atom through feedparser -----------------------------------------------------------


def _xml_entry(entry: Any, url: str) -> _Raw:
    link = _http_url(entry.get("link"), url)
    html = _entry_html(entry)
    return _Raw(
        guid=clean(entry.get("id", "")) or None,
        link=link,
        title=_title(entry),
        html=html,
        author=clean(entry.get("author", "")) or None,
        # dict.get: FeedParserDict.get maps updated<->published itself, with a warning.
        published=_struct_time(
            dict.get(entry, "published_parsed") or dict.get(entry, "updated_parsed")
        ),
        image=_media_image(entry, link or url),
    )


def _entry_html(entry: Any) -> str:
    """The summary, else the (first) full content, as HTML."""
    for detail in [entry.get("summary_detail"), *entry.get("content", [])]:
        if detail and clean(detail.get("value", "")):
            value = detail["value"]
            if detail.get("type") == "text/plain":
                return "".join(f"<p>{_escape(p)}</p>" for p in plain_paragraphs(value))
            return value
    return ""


def _title(entry: Any) -> str:
    detail = entry.get("title_detail") or {}
    value = entry.get("title", "")
    if detail.get("type") in ("text/html", "application/xhtml+xml"):
        return " ".join(html_paragraphs(value))
    return clean(value)


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


def _struct_time(value: time.struct_time | None) -> datetime | None:
    """feedparser's parsed dates are UTC struct_times; nonsense becomes None."""
    if value is None:
        return None
    try:
        return datetime(*value[:6], tzinfo=UTC)
    except (TypeError, ValueError, OverflowError):
        return None


# --- JSON Feed ---------------------------------------------------------------------------------


def _looks_like_json(data: bytes, content_type: str | None) -> bool:
    return "json" in (content_type or "").lower() or data.lstrip()[:1] == b"{"


def _parse_json_feed(data: bytes, *, url: str, source: FeedSource, now: datetime) -> ParsedFeed:
    """Parse a JSON Feed (https://jsonfeed.org, versions 1 and 1.1).

    Raises:
        ParseError: not JSON, or not a JSON Feed.
    """
    try:
        doc = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ParseError(url, f"not a readable feed (invalid JSON: {exc})") from None
    if not isinstance(doc, dict) or not str(doc.get("version", "")).startswith(
        "https://jsonfeed.org/version/"
    ):
        raise ParseError(url, "JSON but not a JSON Feed (no 'version: https://jsonfeed.org/...')")
    title = clean(str(doc.get("title") or "")) or None
    base = _http_url(doc.get("home_page_url"), url) or url
    raw = [_json_item(i, base) for i in doc.get("items") or [] if isinstance(i, dict)]
    return ParsedFeed(title, _items(raw, source, source.section or title or source.name, now))


def _json_item(item: dict[str, Any], base: str) -> _Raw:
    link = _http_url(item.get("url") or item.get("external_url"), base)
    html = ""
    for key in ("summary", "content_html", "content_text"):
        if isinstance(value := item.get(key), str) and value.strip():
            plain = key != "content_html"
            html = (
                "".join(f"<p>{_escape(p)}</p>" for p in plain_paragraphs(value)) if plain else value
            )
            break
    image = next(
        (u for k in ("image", "banner_image") if (u := image_url(str(item.get(k) or ""), base))),
        None,
    )
    authors = item.get("authors") or [item.get("author")]
    author = authors[0].get("name") if authors and isinstance(authors[0], dict) else None
    return _Raw(
        guid=clean(str(item.get("id") or "")) or None,
        link=link,
        title=clean(str(item.get("title") or "")),
        html=html,
        author=clean(str(author)) if author else None,
        published=_iso_date(item.get("date_published") or item.get("date_modified")),
        image=(image, None) if image else None,
    )


def _iso_date(value: object) -> datetime | None:
    """An RFC 3339 date as aware UTC; None when missing or malformed (naive means UTC)."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)


def _http_url(value: object, base: str) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    url = urljoin(base, value.strip())
    return url if urlsplit(url).scheme in ("http", "https") else None


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

"""A feed's entries -> items, whatever the format: text, image, date and identity. Pure.

The RSS/Atom reader (``feeds``) and the JSON Feed reader (``jsonfeed``) turn each entry into
a ``RawEntry``; ``build_feed`` makes the items. Every text field leaves as plain text
(``plaintext``).

Identity. Each item carries every key it can be recognised by: its id/guid (scoped to the
source unless it is itself a URI), its link (normalised; unless several items of the same
feed share it, as on feeds whose items all link to the home page), else a hash of title and
content (of its image, for an image-only post). An item is the same article when *any* key
matches one seen before, so an item whose feed re-orders it, edits its text, changes its
link or its guid, or which two sources both carry, is one article. The article's id is its
first key.

An entry with no title and no text but an image is an image-only post: it is titled
``Image from <feed>, <day>`` (``image_title``). One with neither is not an item: the
feed's ``empty`` entries, counted as "no title or text".
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from html import escape
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

from ..models import Article, NotTaken, NotTakenReason
from .feedtext import body_text, first_image, lead, shorten
from .plaintext import clean_article, clean_url, html_paragraphs, text_paragraphs

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
    """A feed's title, its items, and its entries that make no item (no title, no text and
    no image: nothing to show a reader)."""

    title: str | None
    items: tuple[FeedItem, ...]
    empty: tuple[NotTaken, ...] = ()

    @property
    def nothing(self) -> str | None:
        """Why the feed gives no item ("no items", "1 item without title or text"); None
        when it gives some."""
        if self.items:
            return None
        if not self.empty:
            return "no items"
        n = len(self.empty)
        return f"{n} item{'s' * (n != 1)} without title or text"


@dataclass(frozen=True, slots=True)
class FeedSource:
    """Who the bytes belong to: ``key`` scopes guids (the URL as configured, stable across
    redirects), ``name`` labels articles, ``section`` overrides the feed's title."""

    key: str
    name: str
    section: str | None = None


@dataclass(slots=True)
class RawEntry:
    """An entry's fields before identity is decided (which needs the whole feed)."""

    guid: str | None
    link: str | None
    title: str
    html: str  # summary or content, as HTML (plain text is escaped into it)
    author: str | None
    published: datetime | None
    image: tuple[str, str | None] | None


@dataclass(frozen=True, slots=True)
class FeedContext:
    """Whose items these are: the source, the section its articles go in, and the feed's
    name (its title, else the source's name) for titling image-only posts."""

    source: FeedSource
    section: str
    name: str


def build_feed(
    title: str | None, raw: list[RawEntry], context: FeedContext, now: datetime, zone: tzinfo
) -> ParsedFeed:
    shared = {link for link, n in Counter(r.link for r in raw if r.link).items() if n > 1}
    items: list[FeedItem] = []
    empty: list[NotTaken] = []
    for r in raw:
        paragraphs = html_paragraphs(r.html)
        image = r.image or first_image(r.html, r.link or "")
        published = _plausible(r.published, now)
        text_title = r.title or shorten(" ".join(paragraphs), TITLE_FROM_TEXT_CHARS)
        if not text_title and image is None:
            where = r.link or r.guid
            empty.append(NotTaken(NotTakenReason.EMPTY, context.source.name, "(untitled)", where))
            continue
        # An image-only post is titled by what it is; its identity is its image.
        headline = text_title or image_title(context.name, published or now, zone)
        identity = text_title or (image[0] if image else "")
        keys = _keys(r, context.source.key, shared, identity, paragraphs)
        article = Article(
            id=keys[0],
            source=context.source.name,
            title=headline,
            section=context.section,
            summary=lead(paragraphs) or (image[1] if image else None) or headline,
            body=body_text(paragraphs),
            url=r.link,
            author=r.author,
            published=published or now,
            image_url=image[0] if image else None,
            image_alt=image[1] if image else None,
        )
        items.append(FeedItem(clean_article(article), keys, published is not None))
    return ParsedFeed(title, tuple(items), tuple(empty))


def image_title(feed: str, published: datetime, zone: tzinfo) -> str:
    """The title of a post that is only an image: ``Image from <feed>, 29 November 2026``
    (its day in ``zone``)."""
    day = published.astimezone(zone)
    return f"Image from {feed}, {day.day} {day:%B %Y}"


def _keys(
    r: RawEntry, scope: str, shared: set[str], title: str, paragraphs: Sequence[str]
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


def http_url(value: object, base: str) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    url = urljoin(base, clean_url(value))
    return url if urlsplit(url).scheme in ("http", "https") else None


def as_html(text: str) -> str:
    """Plain text as HTML paragraphs (split on blank lines)."""
    return "".join(f"<p>{escape(p, quote=False)}</p>" for p in text_paragraphs(text))

"""JSON Feed (https://jsonfeed.org, versions 1 and 1.1) -> feed items. Pure."""

from __future__ import annotations

import json
from datetime import datetime, tzinfo
from typing import Any

from ..errors import ParseError
from .feeddates import read_date
from .feeditems import FeedContext, FeedSource, ParsedFeed, RawEntry, as_html, build_feed, http_url
from .feedtext import clean, image_url
from .plaintext import has_tags, plain_text


def parse_json_feed(
    data: bytes, *, url: str, source: FeedSource, now: datetime, zone: tzinfo
) -> ParsedFeed:
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
    title = plain_text(str(doc.get("title") or "")) or None
    base = http_url(doc.get("home_page_url"), url) or url
    items = [i for i in doc.get("items") or [] if isinstance(i, dict)]
    raw = [_json_item(i, base, zone, now.year) for i in items]
    context = FeedContext(source, source.section or title or source.name, title or source.name)
    return build_feed(title, raw, context, now, zone)


def _json_item(item: dict[str, Any], base: str, zone: tzinfo, year: int) -> RawEntry:
    link = http_url(item.get("url") or item.get("external_url"), base)
    html = ""
    for key in ("summary", "content_html", "content_text"):
        if isinstance(value := item.get(key), str) and value.strip():
            html = value if key == "content_html" or has_tags(value) else as_html(value)
            break
    image = next(
        (u for k in ("image", "banner_image") if (u := image_url(str(item.get(k) or ""), base))),
        None,
    )
    authors = item.get("authors") or [item.get("author")]
    author = authors[0].get("name") if authors and isinstance(authors[0], dict) else None
    written = [item.get("date_published"), item.get("date_modified")]
    dates = (read_date(text, zone=zone, year=year) for text in written if isinstance(text, str))
    return RawEntry(
        guid=clean(str(item.get("id") or "")) or None,
        link=link,
        title=plain_text(str(item.get("title") or "")),
        html=html,
        author=plain_text(str(author)) if author else None,
        published=next((d for d in dates if d is not None), None),
        image=(image, None) if image else None,
    )

"""XML-level checks on feed bytes before and after feedparser. Pure.

``refuse_entities`` stops entity-expansion attacks before any parser expands anything;
``readable_anyway`` tells the XML errors feedparser reads through from real ones;
``not_a_feed`` says what a document that is no feed is (often a site's HTML home page, which
names its real feed in a ``<link rel="alternate">``).
"""

from __future__ import annotations

import re
import xml.sax
import xml.sax.handler
from typing import Any
from urllib.parse import urljoin

import defusedxml.sax
import feedparser
from defusedxml import DefusedXmlException

from ..errors import ParseError, visible

_HREF = re.compile(r"\bhref=[\"']?([^\"'\s>]+)", re.I)
_FEED_LINK = re.compile(
    r"<link\b[^>]*\btype=[\"']?application/(?:rss|atom|feed)\+(?:xml|json)[^>]*>", re.I
)


def refuse_entities(data: bytes, url: str) -> None:
    """Refuse documents that declare entities: no feed needs them, attacks do.

    expat (2.4+) limits amplification and feedparser drops entity declarations that refer to
    other entities, but a single huge entity repeated ("quadratic blowup") gets through both.

    Raises:
        ParseError: an entity declaration.
    """
    utf16_or_32 = b"\x00" in data[:4]
    if b"<!ENTITY" not in data and not utf16_or_32:
        return
    try:
        defusedxml.sax.parseString(
            data, _Ignore(), forbid_dtd=False, forbid_entities=True, forbid_external=True
        )
    except DefusedXmlException as exc:
        name = getattr(exc, "name", None) or "?"
        raise ParseError(url, f"{_ENTITIES} (entity '{name}')") from None
    except (xml.sax.SAXException, ValueError):
        # Not well-formed: feedparser's lenient parser still reads the prolog's entities.
        text = _as_utf8(data) if utf16_or_32 else data
        prolog = text[: m.start()] if (m := re.search(rb"<\w", text)) else text
        if b"<!ENTITY" in prolog:
            raise ParseError(url, _ENTITIES) from None


def _as_utf8(data: bytes) -> bytes:
    for encoding in ("utf-16", "utf-32"):
        try:
            return data.decode(encoding).encode("utf-8")
        except UnicodeDecodeError:
            continue
    return data


_ENTITIES = "the feed declares XML entities: refused, entity expansion attacks use them"


class _Ignore(xml.sax.handler.ContentHandler):
    """A SAX handler that only lets the parser walk the document."""


def readable_anyway(problem: BaseException) -> bool:
    """Whether feedparser read a document through this XML error: an HTML entity
    (``&eacute;``: undefined in XML, read by feedparser's own parser), or a warning it
    raises about a declared encoding or content type."""
    if isinstance(problem, feedparser.ThingsNobodyCaresAboutButMe):
        return True
    return "undefined entity" in str(problem)


def xml_error(problem: BaseException) -> str:
    """An XML error as a person reads it: ``no element found (line 2, column 48)``."""
    if isinstance(problem, xml.sax.SAXParseException):
        where = f"line {problem.getLineNumber()}, column {problem.getColumnNumber()}"
        return f"{problem.getMessage()} ({where})"
    return str(problem)


def not_a_feed(data: bytes, url: str, content_type: str | None, parsed: Any) -> str:
    """Why a document feedparser found no feed in is not a feed, and what to do."""
    head = data[:2048].lstrip().lower()
    if "html" in (content_type or "") or head.startswith((b"<!doctype html", b"<html")):
        reason = "an HTML page, not a feed"
        if (link := _FEED_LINK.search(data[:65536].decode("utf-8", "replace"))) and (
            href := _HREF.search(link[0])
        ):
            return f"{reason}; the page names its feed: {visible(urljoin(url, href[1]))}"
        return f"{reason}; check the URL (a site's feed is often at /feed or /rss.xml)"
    if not data.strip():
        return "empty response, not a feed"
    problem = parsed.get("bozo_exception")
    return f"not a readable feed ({problem or 'no RSS, Atom or JSON Feed found'})"

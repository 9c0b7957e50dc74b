"""OPML (a feed reader's export) -> the feeds it lists. Pure.

Parsed with defusedxml: an OPML file is user-supplied XML and gets no entity expansion.
A feed nested in a folder outline takes the folder's name as its section.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit
from xml.etree.ElementTree import Element

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from ..errors import ParseError

_HINT = "export the subscriptions from your feed reader as OPML and try again"


@dataclass(frozen=True, slots=True)
class OpmlFeed:
    url: str
    name: str | None
    section: str | None


def parse_opml(data: bytes, where: str) -> list[OpmlFeed]:
    """The http(s) feeds an OPML document lists, in document order, each once.

    Raises:
        ParseError: not well-formed XML, entity declarations, or not OPML; names ``where``.
    """
    try:
        root = SafeET.fromstring(data)
    except DefusedXmlException as exc:
        raise ParseError(where, f"declares XML entities ({exc}); refused") from None
    except SafeET.ParseError as exc:
        line = getattr(exc, "position", (0, 0))[0]
        raise ParseError(f"{where}:{line}" if line else where, f"not valid XML: {exc}") from None
    if root.tag.lower() != "opml" or root.find("body") is None:
        raise ParseError(where, f"not an OPML file (no <opml><body>); {_HINT}")
    found: dict[str, OpmlFeed] = {}
    _walk(root.find("body"), None, found)  # type: ignore[arg-type]
    return list(found.values())


def _walk(parent: Element, folder: str | None, found: dict[str, OpmlFeed]) -> None:
    for outline in parent.findall("outline"):
        url = (outline.get("xmlUrl") or "").strip()
        label = (outline.get("title") or outline.get("text") or "").strip() or None
        if url:
            if urlsplit(url).scheme in ("http", "https") and url not in found:
                found[url] = OpmlFeed(url, label, folder)
        else:  # a folder of feeds
            _walk(outline, label or folder, found)

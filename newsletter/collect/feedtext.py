"""Feed HTML -> plain text paragraphs, a short lead, and a lead image. Pure.

Feed summaries and contents are HTML written by strangers. Nothing of it reaches an
edition as markup: scripts, styles, iframes, embeds and forms are dropped with their text,
the rest becomes plain paragraphs, and the edition's templates escape them. The only URL
taken from the markup is one image, made absolute against the item's base URL, and never a
tracking pixel.
"""

from __future__ import annotations

import re
from urllib.parse import urljoin, urlsplit

from lxml import etree
from lxml import html as lxml_html

LEAD_MAX_CHARS = 300  # a lead is a teaser: about three lines of an email column
LEAD_MIN_CHARS = 80  # a shorter first paragraph ("Photo: ...", "Updated") takes the next one too
BODY_MAX_CHARS = 20_000  # full-content feeds: keep the text, not a book

# Elements whose text is never article text.
_DROPPED = (
    "script",
    "style",
    "iframe",
    "noscript",
    "object",
    "embed",
    "template",
    "svg",
    "form",
    "button",
    "select",
    "textarea",
    "head",
    "title",
)
# Elements that start a new paragraph (their text is not run into the neighbours').
_BLOCKS = frozenset(
    [
        "p",
        "div",
        "li",
        "ul",
        "ol",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "blockquote",
        "pre",
        "table",
        "tr",
        "section",
        "article",
        "figure",
        "figcaption",
        "header",
        "footer",
        "aside",
        "dl",
        "dt",
        "dd",
        "hr",
    ]
)
# Pixels and trackers that are images only to a mail client's eyes.
_TRACKER = re.compile(
    r"feeds\.feedburner\.com/~r/|/~ff/|pixel|beacon|/track(?:ing)?[/?]|stats\.wordpress\.com"
    r"|doubleclick\.net|/open\.(?:gif|png)|\.gif\?",
    re.IGNORECASE,
)


def html_paragraphs(markup: str) -> list[str]:
    """The plain text paragraphs of an HTML fragment (dropped elements contribute nothing)."""
    root = _fragment(markup)
    if root is None:
        return []
    for element in root.iter("br"):
        element.tail = "\n" + (element.tail or "")  # a line break inside a paragraph
    for element in root.iter(etree.Element):
        if isinstance(element.tag, str) and element.tag.lower() in _BLOCKS:
            # A marker on each side keeps block boundaries through text_content().
            element.text = "\n\n" + (element.text or "")
            element.tail = "\n\n" + (element.tail or "")
    return text_paragraphs(root.text_content())


def text_paragraphs(text: str) -> list[str]:
    """Plain text -> whitespace-normalised paragraphs (split on blank lines)."""
    return [p for p in (clean(block) for block in re.split(r"\n\s*\n", text)) if p]


def clean(text: str) -> str:
    """Collapse whitespace (NBSP, zero-width space included) and strip."""
    return " ".join(text.replace("\u200b", "").replace("\ufeff", "").split())


def lead(paragraphs: list[str], limit: int = LEAD_MAX_CHARS) -> str:
    """A short lead: the first paragraph (with the next ones while it is very short), cut
    on a word boundary with an ellipsis when longer than ``limit`` characters."""
    text = ""
    for paragraph in paragraphs:
        text = f"{text} {paragraph}".strip()
        if len(text) >= LEAD_MIN_CHARS:
            break
    return shorten(text, limit)


def shorten(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters on a word boundary, with an ellipsis."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    if " " in cut and not text[limit - 1].isspace():
        cut = cut.rsplit(" ", 1)[0]
    return cut.rstrip(" ,;:-–—") + "…"


def body_text(paragraphs: list[str]) -> str:
    """The article's text for the database, bounded in size."""
    return shorten("\n\n".join(paragraphs), BODY_MAX_CHARS)


def first_image(markup: str, base: str) -> tuple[str, str | None] | None:
    """The first real image of an HTML fragment as (absolute URL, alt), skipping pixels."""
    root = _fragment(markup)
    if root is None:
        return None
    for img in root.iter("img"):
        url = image_url(img.get("src") or "", base)
        if url is None or _is_pixel(img.get("width"), img.get("height")):
            continue
        return url, clean(img.get("alt") or "") or None
    return None


def image_url(src: str, base: str) -> str | None:
    """``src`` made absolute against ``base``; None for non-http(s) URLs and trackers."""
    src = src.strip()
    if not src:
        return None
    url = urljoin(base, src)
    if urlsplit(url).scheme not in ("http", "https") or _TRACKER.search(url):
        return None
    return url


def _is_pixel(width: str | None, height: str | None) -> bool:
    def small(value: str | None) -> bool:
        digits = re.match(r"\s*(\d+)", value or "")
        return bool(digits) and int(digits[1]) <= 2  # type: ignore[index]

    return small(width) or small(height)


def _fragment(markup: str) -> lxml_html.HtmlElement | None:
    """Parse an HTML fragment into a <div>, without the dropped elements; None when empty."""
    if not markup.strip():
        return None
    try:
        root = lxml_html.fragment_fromstring(markup, create_parent="div")
    except (etree.ParserError, ValueError):
        return None
    for element in list(root.iter(*_DROPPED)):
        element.drop_tree()  # keeps the tail text, which belongs to the parent
    return root

"""Feed HTML -> a short lead, the article's text, and a lead image. Pure.

Feed summaries and contents are HTML written by strangers. Nothing of it reaches an
edition as markup: ``plaintext`` turns it into plain paragraphs (dropping scripts, styles,
frames, embeds and forms with their text), and the edition's templates escape them. The
only URL taken from the markup is one image, made absolute against the item's base URL, and
never a tracking pixel.
"""

from __future__ import annotations

import re
from urllib.parse import urljoin, urlsplit

from .plaintext import html_paragraphs, parse_fragment, text_paragraphs

__all__ = ["html_paragraphs", "text_paragraphs"]

LEAD_MAX_CHARS = 300  # a lead is a teaser: about three lines of an email column
LEAD_MIN_CHARS = 80  # a shorter first paragraph ("Photo: ...", "Updated") takes the next one too
BODY_MAX_CHARS = 20_000  # full-content feeds: keep the text, not a book

# Pixels and trackers that are images only to a mail client's eyes.
_TRACKER = re.compile(
    r"feeds\.feedburner\.com/~r/|/~ff/|pixel|beacon|/track(?:ing)?[/?]|stats\.wordpress\.com"
    r"|doubleclick\.net|/open\.(?:gif|png)|\.gif\?",
    re.IGNORECASE,
)


def clean(text: str) -> str:
    """Collapse whitespace (NBSP, zero-width space included) and strip: for identities,
    which must not change with the text normaliser (``plaintext``)."""
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
    root = parse_fragment(markup)
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

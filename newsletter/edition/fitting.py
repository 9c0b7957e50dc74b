"""Fitting things into the space the templates give them: a picture into a box (its own
shape kept, never enlarged) and a headline into a number of display columns (cut at a
word, never inside a grapheme cluster). Pure; used as the templates' ``picture()`` and
``shorten``.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import accumulate

import regex

from ..models import Article
from .wrapping import columns


@dataclass(frozen=True, slots=True)
class Picture:
    """How large to show a picture: ``width`` and ``height`` in CSS pixels, ``height``
    None when the picture's own size is unknown (the browser keeps its ratio then)."""

    width: int
    height: int | None


def picture(article: Article, width: int, max_height: int | None = None) -> Picture:
    """The size to show ``article``'s picture at in a box ``width`` px wide and at most
    ``max_height`` tall: its own ratio, never wider than the picture itself (a small one
    is not blown up); a picture of unknown size gets the box's width only."""
    own_w, own_h = article.image_width, article.image_height
    if not own_w or not own_h:
        return Picture(width, None)
    shown = min(width, own_w)
    if max_height and shown * own_h > max_height * own_w:  # too tall: narrower, same ratio
        shown = max(1, max_height * own_w // own_h)
    return Picture(shown, max(1, round(shown * own_h / own_w)))


def shorten(text: str, width: int, end: str = "…") -> str:
    """``text`` (whitespace collapsed) in at most ``width`` display columns: as it is when
    it fits, else cut after the last whole word that leaves room for ``end``, and ``end``
    added. It cuts between grapheme clusters (Unicode UAX #29: an accented letter, a flag
    or a family emoji stays whole), each as wide as a reader sees it: two columns when it
    holds an East Asian Wide or Full-width character (UAX #11: ideographs, kana), else
    one. Text without a space to cut at (Chinese, Japanese, one long word) is cut between
    two clusters.
    """
    clusters = regex.findall(r"\X", " ".join(str(text).split()))
    sizes = [columns(c) for c in clusters]
    if sum(sizes) <= width:
        return "".join(clusters)
    room = max(0, width - columns(end))
    cut = sum(1 for used in accumulate(sizes) if used <= room)  # the clusters that fit
    # The last space at or before the cut: the words before it are whole.
    space = next((i for i in range(min(cut, len(clusters) - 1), 0, -1) if clusters[i] == " "), None)
    head = "".join(clusters[: space if space else cut])
    return head.rstrip(" ,;:–—-") + end

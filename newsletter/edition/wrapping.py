"""Filling paragraphs for the plain-text part (the templates' ``wrap`` filter): at spaces,
never inside a word or URL; Chinese and Japanese also between ideographs and kana."""

from __future__ import annotations

import re
import textwrap
import unicodedata

import regex


def wrap(text: str, width: int = 72, indent: str = "", first: str | None = None) -> str:
    """Fill a paragraph to ``width`` columns for the plain-text part, every line indented
    by ``indent`` (the first by ``first`` when given: ``wrap(72, "  ", "* ")``).

    Unlike Jinja's ``wordwrap`` it never breaks a word or a URL, at a hyphen or anywhere.
    Chinese and Japanese, written without spaces, may also break between two ideographs
    or kana (``_wrap_wide``), counting them two columns wide.
    """
    words = " ".join(str(text).split())
    first_indent = indent if first is None else first
    if _WIDE.search(words):
        return _wrap_wide(words, width, first_indent, indent)
    return textwrap.fill(
        words,
        width=width,
        initial_indent=first_indent,
        subsequent_indent=indent,
        break_long_words=False,
        break_on_hyphens=False,
    )


# Ideographs, kana and full-width forms: the scripts written without spaces between words
# (Hangul is not: Korean puts spaces between words, so it wraps as English does).
_WIDE_CHARS = "\u3001-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff01-\uff60"
_WIDE = re.compile(f"[{_WIDE_CHARS}]")
# Unicode line breaking (UAX #14, simplified): no line starts with closing punctuation or a
# small kana mark, no line ends with opening punctuation.
_CLOSE = "、。，．・：；？！）」』】〕〉》ーぁぃぅぇぉっゃゅょァィゥェォッャュョ々〜,.;:!?)\\]"
_OPEN = "（「『【〔〈《"
# A unit never broken: a wide character, or a run of others (a word, a URL), with the
# punctuation that must stay on its line.
_UNIT = re.compile(f"[{_OPEN}]*(?:[{_WIDE_CHARS}]|[^\\s{_WIDE_CHARS}]+)[{_CLOSE}]*| ")


def _wrap_wide(words: str, width: int, first: str, indent: str) -> str:
    """Greedy fill by display columns (East Asian Width: wide and full-width characters
    count two) where a line may break at a space or before any ideograph or kana."""
    lines, line, column, space = [], first, columns(first), False
    for unit in _UNIT.findall(words):
        if unit == " ":
            space = True
            continue
        gap = " " if space and line.strip() else ""
        size = columns(gap + unit)
        if column + size > width and line.strip():
            lines.append(line)
            line, column, gap, size = indent, columns(indent), "", columns(unit)
        line, column, space = line + gap + unit, column + size, False
    lines.append(line)
    return "\n".join(lines)


def columns(text: str) -> int:
    """The display width of ``text`` in monospace columns, counted by grapheme cluster
    (Unicode UAX #29, so a decomposed é or a flag is one): two for a cluster holding an
    East Asian Wide or Full-width character (UAX #11, ``unicodedata.east_asian_width`` W
    or F: ideographs, kana, most emoji), one for any other."""
    return sum(
        2 if any(unicodedata.east_asian_width(c) in "WF" for c in cluster) else 1
        for cluster in regex.findall(r"\X", text)
    )

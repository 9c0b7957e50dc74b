"""Article files -> Article: scraped page text (``.txt``) or Markdown with YAML front matter.

Pure (see DESIGN.md): the caller reads the file and passes its text, name and mtime; nothing
here touches the disk, the network, the clock or the environment. Every problem is a
``ParseError`` naming the file, and the line where there is one.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime, time, tzinfo
from functools import partial
from typing import Any

import yaml

from newsletter.collect.plaintext import clean_article
from newsletter.errors import ParseError
from newsletter.models import Article

ARTICLE_SUFFIXES = (".txt", ".md", ".markdown")
MARKDOWN_SUFFIXES = (".md", ".markdown")
DEFAULT_SECTION = "General"

_Line = tuple[int, str]  # (1-based line number, whitespace-normalised text)
_Block = list[_Line]  # a paragraph: lines between blank lines

# A sentence ends with . ! ? or …, the Chinese/Japanese 。！？ (and half-width ｡), the
# Arabic question mark ؟ or the Urdu full stop ۔, possibly followed by closing quotes or
# brackets (Western or CJK).
_SENTENCE_END = re.compile(r"[.!?…。！？｡؟۔][\"'”’»)\]」』）】〕〉》]*$")
# Ideographs, kana and CJK/full-width punctuation: Chinese and Japanese put no spaces
# between words, so text in them is measured in characters, two to a word (about average).
_NO_SPACE_CHARS = re.compile("[\u3001-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff01-\uff60]")
_LEAD_MIN_WORDS = 8  # a lead is a real paragraph; related headlines and captions are shorter
_HEADLINE_MAX_WORDS = 25
# Page chrome a scraper picks up around the article; compared case-insensitively.
_CHROME_TEXT = (
    "daily newsletter|newsletter|advertisement|sponsored|share|share this article|"
    "share this story|read more|continue reading|related|related articles|more stories|"
    "most read|trending|comments|subscribe|sign up|print|email|copy link|skip to content|"
    "scroll to continue with content|share on facebook|share on x|share on twitter"
)
_CHROME = frozenset(_CHROME_TEXT.split("|"))
_CHROME_PREFIXES = ("read more:", "also read:", "related:", "see also:", "sign up for", "follow us")
_AUTHOR_HEADINGS = frozenset({"about the author", "about the authors"})
_CREDIT_PREFIX = re.compile(
    r"^\(?\s*(?:source|photo|photograph|picture|image|credit|video|file photo)s?"
    r"(?:\s+credits?)?\s*:",
    re.IGNORECASE,
)
# "Reuters/Jane Doe", "AFP/Getty Images", "© Jane Doe": only on short lines (see _is_credit).
_AGENCY_CREDIT = re.compile(
    r"^©|getty images|^(?:[A-Z][\w.&'-]*\s?){1,3}/\s?(?:[A-Z][\w.'-]*\s?){1,4}$"
)
_CRUMB_SEP = re.compile(r"\s+[›»>|/]\s+")
_CRUMB_ROOTS = frozenset({"news", "home"})
_BYLINE = re.compile(r"^By\s+(.+)$")
_HEADLINE_HINT = "an article file starts with a breadcrumb line like 'News World' then the headline"
_TEXT_HINT = "write the article as paragraphs of sentences separated by blank lines"


def parse_article_file(
    text: str,
    *,
    source: str,
    relpath: str,
    where: str,
    default_published: datetime | None = None,
    tz: tzinfo = UTC,
) -> Article:
    """Parse one article file's text; the format follows the extension of ``relpath``.

    ``.md``/``.markdown`` is Markdown with YAML front matter, anything else scraped page text.
    ``default_published`` (the file's mtime) is used when the file gives no date; ``tz`` is
    the zone of naive dates in the file. The id is the front matter's url (or id), else
    ``source:relpath``, so the same file collected twice is one article.

    Raises:
        ParseError: the file cannot be used; the message names ``where`` (and the line).
    """
    # The caller decodes with utf-8-sig, but a BOM or CRLF endings must not reach the text.
    text = text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    published = _as_utc(default_published, UTC) if default_published else None
    common = {"source": source, "fallback_id": f"{source}:{relpath}", "where": where}
    if relpath.lower().endswith(MARKDOWN_SUFFIXES):
        article = _parse_markdown(text, **common, published=published, tz=tz)
    else:
        article = _parse_page_text(text, **common, published=published)
    # Entities, markup and controls are read the way feed text is (plaintext).
    article = clean_article(article)
    if not article.title or not article.summary:
        field = "title" if not article.title else "article text"
        raise ParseError(where, f"the {field} is only markup or control characters; {_TEXT_HINT}")
    return article


# --- scraped page text ----------------------------------------------------------------------


def _parse_page_text(
    text: str, *, source: str, fallback_id: str, where: str, published: datetime | None
) -> Article:
    """Parse page text: breadcrumb, headline, related headline/credit, body, author block.

    Raises:
        ParseError: no headline, or no article text after it.
    """
    blocks, author = _split_author(_blocks(text))
    section, blocks = _take_breadcrumb(blocks)
    if not blocks:
        raise ParseError(where, f"no headline found; {_HEADLINE_HINT}")
    (line_no, title), *rest = blocks[0]
    if _is_paragraph(title) and _words(title) > _HEADLINE_MAX_WORDS:
        raise ParseError(
            f"{where}:{line_no}", f"no headline found (this is article text); {_HEADLINE_HINT}"
        )
    paragraphs = [p for p in map(_drop_caption, [rest, *blocks[1:]]) if p]
    lead = next((i for i, block in enumerate(paragraphs) if _is_paragraph(_join(block))), None)
    if lead is None:
        raise ParseError(where, f"no article text found after the headline; {_TEXT_HINT}")
    # Between the headline and the lead come related headlines, captions, maybe a byline.
    author = author or next(filter(None, (_byline(_join(b)) for b in paragraphs[:lead])), None)
    body = [_join(block) for block in paragraphs[lead:]]
    return Article(
        id=fallback_id,
        source=source,
        title=title,
        section=section,
        summary=body[0],
        body="\n\n".join(body),
        author=author,
        published=published,
    )


def _blocks(text: str) -> list[_Block]:
    """Split text into blank-line-separated blocks of normalised lines, without page chrome."""
    blocks: list[_Block] = [[]]
    for number, raw in enumerate(text.split("\n"), start=1):
        line = _clean(raw)
        if not line:
            blocks.append([])
        elif not _is_chrome(line):
            blocks[-1].append((number, line))
    return [block for block in blocks if block]


def _split_author(blocks: list[_Block]) -> tuple[list[_Block], str | None]:
    """Cut the blocks at an "About the author" heading; return the rest and the author name."""
    for index, block in enumerate(blocks):
        if block[0][1].casefold().rstrip(" :") in _AUTHOR_HEADINGS:
            # The author paragraph follows the heading, on its next line or in the next block.
            after = block[1:] or (blocks[index + 1] if index + 1 < len(blocks) else [])
            return blocks[:index], _author_name(_join(after)) if after else None
    return blocks, None


def _author_name(text: str) -> str | None:
    """'Agence France-Presse (AFP) is a French ...' -> 'Agence France-Presse (AFP)'."""
    name = re.split(r",|\s(?:is|was|has|writes|covers|reports)\s", text, maxsplit=1)[0]
    name = name.strip(" .")
    # A long remainder means the sentence did not start with a name: better no author.
    return name if name and len(name.split()) <= 8 else None


def _take_breadcrumb(blocks: list[_Block]) -> tuple[str, list[_Block]]:
    """Return the section named by a leading breadcrumb line and the blocks without it."""
    if not blocks:
        return DEFAULT_SECTION, blocks
    line = blocks[0][0][1]
    crumbs = _CRUMB_SEP.split(line) if _CRUMB_SEP.search(line) else line.split(maxsplit=1)
    words = line.split()
    is_crumb = crumbs[0].casefold() in _CRUMB_ROOTS and len(words) <= 6
    # "News Corp shares fall" is a headline: section words are capitalised ("Science & Tech").
    if not is_crumb or _SENTENCE_END.search(line) or any(w[0].islower() for w in words):
        return DEFAULT_SECTION, blocks
    named = [c for c in crumbs if c.casefold() not in _CRUMB_ROOTS]
    rest = [blocks[0][1:], *blocks[1:]] if len(blocks[0]) > 1 else blocks[1:]
    return (named[-1] if named else DEFAULT_SECTION), rest


def _drop_caption(block: _Block) -> _Block:
    """Drop a caption: every line up to and including the block's last credit line."""
    credits = [i for i, (_, line) in enumerate(block) if _is_credit(line)]
    return block[credits[-1] + 1 :] if credits else block


def _is_credit(line: str) -> bool:
    """Whether a line is a photo credit ('Source: ...', '(Photo: ...)', 'Reuters/Jane Doe')."""
    if _CREDIT_PREFIX.match(line):
        return True
    short = _words(line) <= 8 and not _SENTENCE_END.search(line)
    return short and bool(_AGENCY_CREDIT.search(line))


def _is_chrome(line: str) -> bool:
    """Whether a line is page furniture ('Daily Newsletter', 'Read more: ...', 'Advertisement')."""
    key = line.casefold().rstrip(" :›»>")
    return key in _CHROME or key.startswith(_CHROME_PREFIXES)


def _is_paragraph(text: str) -> bool:
    """Whether text is a real sentence paragraph (not a headline, caption or crumb)."""
    return _words(text) >= _LEAD_MIN_WORDS and bool(_SENTENCE_END.search(text))


def _words(text: str) -> int:
    """About how many words ``text`` holds: its space-separated words, where ideographs
    and kana (written without spaces) count two characters to a word, rounded up."""
    no_space = len(_NO_SPACE_CHARS.findall(text))
    return len(_NO_SPACE_CHARS.sub(" ", text).split()) + (no_space + 1) // 2


def _byline(line: str) -> str | None:
    """'By Jane Doe' -> 'Jane Doe'; None for anything longer or sentence-like."""
    match = _BYLINE.match(line)
    return match[1] if match and _words(line) <= 6 and not _SENTENCE_END.search(line) else None


def _join(block: _Block) -> str:
    """A block's lines as one paragraph: joined by a space, except between two lines of
    Chinese or Japanese, whose hard wrap falls between characters written together."""
    text = ""
    for _, line in block:
        together = text and _NO_SPACE_CHARS.match(text[-1]) and _NO_SPACE_CHARS.match(line[0])
        text += line if not text or together else " " + line
    return text


def _clean(text: str) -> str:
    """Collapse whitespace (NBSP and other Unicode spaces included) and strip."""
    return " ".join(text.replace("\u200b", "").split())


# --- Markdown with YAML front matter ----------------------------------------------------------


class _FrontMatterLoader(yaml.SafeLoader):
    """A SafeLoader that keeps dates as strings, so a bad date is reported on its line."""


_FrontMatterLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}

_FRONT_MATTER_HINT = "write a '---' line, 'key: value' lines (title: at least), then '---'"
_DATE_HINT = "write dates like 2026-11-26, 2026-11-26 08:30 or 2026-11-26T08:30:00+01:00"
_MD_LINE_PREFIX = re.compile(r"^\s{0,3}(?:#{1,6}\s+|>\s?|[-*+]\s+|\d+[.)]\s+)")
_MD_SKIP_LINE = re.compile(r"^\s*(?:[-*_=]{3,}|```.*|~~~.*|\[[^\]]+\]:\s*\S+.*)\s*$")
_MD_INLINE = (
    (re.compile(r"`([^`]*)`"), r"\1"),  # inline code first: its * and _ are literal
    (re.compile(r"!\[[^\]]*\]\([^)]*\)"), ""),  # images are dropped
    (re.compile(r"\[([^\]]*)\]\([^)]*\)"), r"\1"),  # [text](url) -> text
    (re.compile(r"\[([^\]]*)\]\[[^\]]*\]"), r"\1"),  # [text][ref] -> text
    (re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1"), r"\2"),
    (re.compile(r"(?<!\w)([*_])(?=\S)(.+?)(?<=\S)\1(?!\w)"), r"\2"),  # not snake_case
    (re.compile(r"~~(.+?)~~"), r"\1"),
    (re.compile(r"<[^>\n]+>"), ""),  # inline HTML tags
    (re.compile(r"\s+#+\s*$"), ""),  # closing hashes of '## Heading ##'
)


def _parse_markdown(
    text: str, *, source: str, fallback_id: str, where: str, published: datetime | None, tz: tzinfo
) -> Article:
    """Parse Markdown with YAML front matter (title required, the rest optional).

    The body is returned as plain text paragraphs, like the body of page text.

    Raises:
        ParseError: missing, unterminated or invalid front matter, no title, a bad value or
            date, or no summary and no paragraph to take it from.
    """
    meta, fm_lines, body_text = _split_front_matter(text, where)
    where_key = partial(_key_where, where, fm_lines)
    field = partial(_text_field, meta, where_key)
    title = field("title")
    if not title:
        raise ParseError(f"{where}:1", "front matter has no title; add 'title: ...' to it")
    raw_blocks = [b for b in re.split(r"\n\s*\n", body_text) if b.strip()]
    body = [p for p in map(_strip_markdown, raw_blocks) if p]
    leads = [_strip_markdown(b) for b in raw_blocks if not b.lstrip().startswith("#")]
    summary = field("summary") or next((p for p in leads if p), None)
    if not summary:
        raise ParseError(where, f"no article text found; add 'summary: ...' or {_TEXT_HINT}")
    url = field("url")
    return Article(
        id=url or field("id") or fallback_id,
        source=source,
        title=title,
        section=field("section") or DEFAULT_SECTION,
        summary=summary,
        body="\n\n".join(body),
        url=url,
        author=field("author"),
        published=_front_matter_date(meta, where_key, tz) or published,
        image_url=field("image"),
        image_alt=field("image_alt"),
    )


def _split_front_matter(text: str, where: str) -> tuple[dict[str, Any], list[str], str]:
    """Return the front matter mapping, its lines and the Markdown after it.

    Raises:
        ParseError: no front matter, not closed, invalid YAML, or not a mapping.
    """
    lines = text.split("\n")
    if lines[0].rstrip() != "---":
        raise ParseError(f"{where}:1", f"no front matter; {_FRONT_MATTER_HINT}")
    end = next((i for i in range(1, len(lines)) if lines[i].rstrip() in ("---", "...")), None)
    if end is None:
        raise ParseError(f"{where}:1", f"front matter is not closed; {_FRONT_MATTER_HINT}")
    try:
        meta = yaml.load("\n".join(lines[1:end]), Loader=_FrontMatterLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        # Front matter starts on line 2 of the file; yaml counts its lines from 0.
        at = f"{where}:{mark.line + 2}" if mark else f"{where}:1"
        problem = getattr(exc, "problem", None) or str(exc)
        raise ParseError(
            at, f"front matter is not valid YAML: {problem}; fix the YAML between the --- lines"
        ) from exc
    if meta is None:
        meta = {}
    if not isinstance(meta, dict):
        kind = type(meta).__name__
        raise ParseError(
            f"{where}:2", f"front matter is a {kind}, not 'key: value' lines; {_FRONT_MATTER_HINT}"
        )
    return meta, lines[1:end], "\n".join(lines[end + 1 :])


def _text_field(meta: dict[str, Any], where_key: Callable[[str], str], key: str) -> str | None:
    """Return a front matter value as normalised text, or None when absent or empty.

    Raises:
        ParseError: the value is a list or mapping, naming the key's line.
    """
    value = meta.get(key)
    if isinstance(value, list | dict):
        raise ParseError(where_key(key), f"'{key}' must be text, not a list or mapping")
    text = _clean(str(value)) if value is not None else ""
    return text or None


def _front_matter_date(
    meta: dict[str, Any], where_key: Callable[[str], str], tz: tzinfo
) -> datetime | None:
    """Return the ``date`` (or ``published``) value as aware UTC, None when there is none.

    Raises:
        ParseError: the value is not a date, naming the key's line.
    """
    key = next((k for k in ("date", "published") if meta.get(k) is not None), None)
    if key is None:
        return None
    try:
        return _as_utc(meta[key], tz)
    except ValueError as exc:
        raise ParseError(where_key(key), f"{exc}; {_DATE_HINT}") from exc


def _key_where(where: str, fm_lines: list[str], key: str) -> str:
    """Name the file line where ``key:`` is set in the front matter (else its first line)."""
    pattern = re.compile(rf"^{re.escape(key)}\s*:")
    number = next((i + 2 for i, line in enumerate(fm_lines) if pattern.match(line)), 1)
    return f"{where}:{number}"


def _strip_markdown(block: str) -> str:
    """Markdown block -> plain text: headings, quotes, lists, emphasis, links, images."""
    lines = [_MD_LINE_PREFIX.sub("", ln) for ln in block.split("\n") if not _MD_SKIP_LINE.match(ln)]
    text = " ".join(lines)
    for pattern, replacement in _MD_INLINE:
        text = pattern.sub(replacement, text)
    return _clean(text)


def _as_utc(value: object, tz: tzinfo) -> datetime:
    """Return a datetime, date or ISO string as an aware UTC datetime; naive means ``tz``.

    Raises:
        ValueError: the value is not a date.
    """
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(f"'{value}' is not a valid date") from None
    if isinstance(value, date) and not isinstance(value, datetime):
        value = datetime.combine(value, time())
    if not isinstance(value, datetime):
        raise ValueError(f"{value!r} is not a date")
    if value.tzinfo is None:
        value = value.replace(tzinfo=tz)
    return value.astimezone(UTC)

"""Article text as a reader may see it: one normaliser for every field. Pure.

Publishers write text in every shape: markup in fields declared plain text, markup escaped
twice inside HTML, entities in Markdown, terminal escape sequences, control characters,
unclosed elements. Whatever a field declares, what leaves the collect stage is text, the way
a careful feed reader shows it:

- no C0/C1 control characters, nor the terminal escape sequences they start (``ESC [31m``
  goes whole); tabs and line breaks are whitespace (folded to one space in one-line fields);
- HTML entities decoded, markup removed: each layer of escaping is read as what it is, so a
  publisher who escaped twice (``&amp;amp;``, ``&lt;b&gt;`` inside HTML) is read as meaning
  the characters and the markup; a reader never sees tags or entity names;
- elements whose content is never article text (scripts, styles, frames, forms...) are
  dropped with their content when they are closed, and alone when they are not (an unclosed
  ``<object>`` must not take the rest of the paragraph with it);
- Unicode NFC (WHATWG and W3C recommend NFC for text on the web; so do mail clients).

What is *not* markup: ``<`` followed by anything but a known HTML element name (``x < y``,
``List<T>``, ``<3``) and ``&`` not starting a known entity (``AT&T``, ``Q&A``): plain-text
fields keep them as written. Entities are read as HTML5 names them (``html.entities``).
"""

from __future__ import annotations

import dataclasses
import html
import re
import unicodedata
from collections.abc import Callable
from html.entities import html5
from typing import TYPE_CHECKING
from urllib.parse import quote

from ..models import Article

if TYPE_CHECKING:
    from lxml.html import HtmlElement

# Escape sequences a terminal acts on: CSI (ESC [ ... final byte, or the one-byte C1 CSI),
# OSC (ESC ] ... BEL or ST) and the two-byte ones (ECMA-48, section 5).
_ESCAPE_SEQUENCE = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]"
    r"|(?:\x1b\]|\x9d)[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"
    r"|\x1b[ -/]*[0-~]?"
)
# C0 and C1 controls but tab, line feed and carriage return (whitespace); DEL; the zero-width
# space and BOM (invisible, they split words for search); lone surrogates (not encodable).
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b\ufeff\ud800-\udfff]")
_ENTITY = re.compile(r"&(?:#[0-9]{1,8}|#[xX][0-9a-fA-F]{1,7}|[A-Za-z][A-Za-z0-9]{0,31});")
# Every spelling of an escaped ampersand, repeated: all the layers of "&amp;amp;amp;" at once.
_NUMERIC_REFERENCE = re.compile(r"&#(?:0*([0-9]{1,10})|[xX]0*([0-9a-fA-F]{1,9}));?")
_AMPERSANDS = re.compile(r"&(?:amp;|AMP;|#0*38;|#[xX]0*26;)+")
_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9]*)(?=[\s/>])[^<>]*>|<!--.*?(?:-->|$)", re.S)
# HTML5 reads references to 0x80-0x9F as the windows-1252 characters ("&#150;" is "–").
_C1_FROM_CP1252 = {
    code: char
    for code in range(0x80, 0xA0)
    if (char := html.unescape(f"&#{code};")) != chr(code) and char != "\ufffd"
}
_PASSES = 4  # layers of escaping read; more is hostile input (see ``_settle``)

# HTML element names (HTML 4.01, HTML5 and the obsolete ones feeds still carry).
HTML_ELEMENTS = frozenset(
    [
        "a", "abbr", "acronym", "address", "applet", "area", "article", "aside", "audio", "b",
        "base", "basefont", "bdi", "bdo", "big", "blink", "blockquote", "body", "br", "button",
        "canvas", "caption", "center", "cite", "code", "col", "colgroup", "command", "data",
        "datalist", "dd", "del", "details", "dfn", "dialog", "dir", "div", "dl", "dt", "em",
        "embed", "fieldset", "figcaption", "figure", "font", "footer", "form", "frame", "frameset",
        "h1", "h2", "h3", "h4", "h5", "h6", "head", "header", "hgroup", "hr", "html", "i", "iframe",
        "image", "img", "input", "ins", "isindex", "kbd", "keygen", "label", "legend", "li", "link",
        "listing", "main", "map", "mark", "marquee", "math", "menu", "meta", "meter", "nav", "nobr",
        "noembed", "noframes", "noscript", "object", "ol", "optgroup", "option", "output", "p",
        "param", "picture", "plaintext", "pre", "progress", "q", "rb", "rp", "rt", "rtc", "ruby",
        "s", "samp", "script", "search", "section", "select", "slot", "small", "source", "span",
        "strike", "strong", "style", "sub", "summary", "sup", "svg", "table", "tbody", "td",
        "template", "textarea", "tfoot", "th", "thead", "time", "title", "tr", "track", "tt", "u",
        "ul", "var", "video", "wbr", "xmp"
    ]
)  # fmt: skip

# Elements whose content is never article text: dropped whole (when closed).
DROPPED = (
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
# Their content is code until the end tag, in any browser: dropped to the end if unclosed.
_RAW_TEXT = ("script", "style")
# Elements that start a new paragraph (their text is not run into the neighbours').
_BLOCKS = frozenset(
    [
        "p", "div", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre",
        "table", "tr", "section", "article", "figure", "figcaption", "header", "footer", "aside",
        "dl", "dt", "dd", "hr", "main", "nav", "details", "summary", "address"
    ]
)  # fmt: skip


def clean_article(article: Article) -> Article:
    """``article`` with every text field normalised (one-line fields by ``plain_text``, the
    body paragraph by paragraph) and its URLs without controls. The id is left as it is:
    it is an identity, never shown to a reader (the CLI prints it through ``visible``)."""
    a = article
    return dataclasses.replace(
        a,
        title=plain_text(a.title),
        source=plain_text(a.source),
        section=plain_text(a.section),
        summary=plain_text(a.summary),
        body="\n\n".join(text_paragraphs(a.body)),
        author=_optional(a.author, plain_text),
        image_alt=_optional(a.image_alt, plain_text),
        url=_optional(a.url, clean_url),
        image_url=_optional(a.image_url, clean_url),
    )


def _optional(value: str | None, normalise: Callable[[str], str]) -> str | None:
    return (normalise(value) or None) if value else None


def plain_text(text: str) -> str:
    """One line of text: decoded, without markup or controls, whitespace folded, NFC."""
    return unicodedata.normalize("NFC", " ".join(_settle(text).split()))


def text_paragraphs(text: str) -> list[str]:
    """Text -> paragraphs (split on blank lines), each one ``plain_text``; empty ones go."""
    return [p for p in (plain_text(block) for block in _BLANK_LINE.split(text)) if p]


def html_paragraphs(markup: str) -> list[str]:
    """The text paragraphs of an HTML fragment (dropped elements contribute nothing).

    When the text of the markup is itself markup (escaped HTML inside HTML, as some
    generators write it), that markup is the document: its blocks are paragraphs too.
    """
    text = html_text(markup)
    if has_tags(text):
        text = html_text(text)
    return text_paragraphs(text)


def html_text(markup: str) -> str:
    """The text of an HTML fragment: blocks separated by blank lines, ``<br>`` a line break,
    entities decoded, dropped elements removed, comments ignored."""
    root = parse_fragment(markup)
    if root is None:
        return ""
    # Read, not rebuilt: text lxml decoded from "&#27;" may hold controls it refuses to set.
    parts: list[str] = []
    stack: list[tuple[HtmlElement, bool]] = [(root, False)]
    while stack:  # depth first, in document order; True marks an element's end
        element, end = stack.pop()
        tag = element.tag.lower() if isinstance(element.tag, str) else None  # None: a comment
        if end:
            parts.append("\n\n" if tag in _BLOCKS else "")
            parts.append(element.tail or "" if element is not root else "")
            continue
        parts.append("\n\n" if tag in _BLOCKS else "\n" if tag == "br" else "")
        parts.append(element.text or "" if tag is not None else "")
        stack.append((element, True))
        stack.extend((child, False) for child in reversed(element))
    return "".join(parts)


def parse_fragment(markup: str) -> HtmlElement | None:
    """Parse an HTML fragment into a ``<div>`` without the dropped elements; None when empty.

    Controls are removed first: lxml refuses them in the text it builds (ValueError).
    """
    # lxml (~10 MB) only when there is markup: article files of plain text never load it.
    from lxml import etree
    from lxml import html as lxml_html

    # References to controls too: lxml would decode them into text it then refuses to set.
    markup = _strip_controls(_NUMERIC_REFERENCE.sub(_control_reference, markup))
    if not markup.strip():
        return None
    try:
        root = lxml_html.fragment_fromstring(_close_or_unwrap(markup), create_parent="div")
    except (etree.ParserError, ValueError):
        # Nothing lxml can build a tree from (an XML declaration, say): the text is kept.
        root = lxml_html.Element("div")
        root.text = _TAG.sub(" ", markup)
    for element in list(root.iter(*DROPPED)):
        element.drop_tree()  # keeps the tail text, which belongs to the parent
    return root


def has_tags(text: str) -> bool:
    """Whether ``text`` holds an HTML tag (a known element name) or comment."""
    return any(_is_tag(m) for m in _TAG.finditer(text))


def has_markup(text: str) -> bool:
    """Whether ``text`` holds a tag, a comment or an entity reference an HTML reader decodes."""
    return has_tags(text) or any(_is_entity(m[0]) for m in _ENTITY.finditer(text))


def clean_url(url: str) -> str:
    """A URL without whitespace at its ends and with controls and spaces percent-encoded
    (WHATWG URL: they are never part of a URL as written)."""
    return _URL_UNSAFE.sub(lambda m: quote(m[0]), url.strip())


# --- how ----------------------------------------------------------------------------------

_BLANK_LINE = re.compile(r"\n\s*\n")
_URL_UNSAFE = re.compile("[\x00-\x20\x7f-\x9f]")


def _settle(text: str) -> str:
    """Strip controls, decode entities and remove markup until what is left is text.

    Each pass reads one layer of escaping. Text still carrying markup after ``_PASSES``
    passes is built to defeat the decoder (``<<<b>b>b>`` needs a pass per ``<``): its
    remaining ``<`` and ``&`` are dropped instead, so the work stays linear.
    """
    for _ in range(_PASSES):
        text = _strip_controls(text)
        if "<" not in text and "&" not in text:
            return text
        if has_tags(text):
            text = html_text(text)  # lxml decodes the entities as it goes
        text = _decode_entities(text)
        if not has_markup(text):
            return _strip_controls(text)  # a decoded &#27; is a control too
    return _strip_controls(text).replace("<", "").replace("&", "")


def _strip_controls(text: str) -> str:
    if _CONTROL.search(text) is None:  # the common case, at the cost of one scan
        return text
    return _CONTROL.sub("", _ESCAPE_SEQUENCE.sub("", text))


def _decode_entities(text: str) -> str:
    return _ENTITY.sub(_decode_entity, _AMPERSANDS.sub("&", text))


def _decode_entity(match: re.Match[str]) -> str:
    reference = match[0]
    if not _is_entity(reference):
        return reference
    if reference[1] == "#":
        # html.unescape turns a reference to a control character into nothing, which would
        # leave the rest of an escape sequence ("&#27;[31m" -> "[31m"): the control itself
        # comes back, so that the whole sequence is stripped with it.
        code = int(reference[3:-1], 16) if reference[2] in "xX" else int(reference[2:-1])
        if code < 0x20 or 0x7F <= code < 0xA0:
            return _C1_FROM_CP1252.get(code) or chr(code)
    return html.unescape(reference)


def _control_reference(match: re.Match[str]) -> str:
    """A numeric reference (";" optional, as HTML reads it) to a control character or to no
    character at all, as that character (stripped next); others stay for the parser."""
    try:
        code = int(match[2], 16) if match[2] is not None else int(match[1])
    except ValueError:
        return ""
    if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        return ""
    if code < 0x20 or 0x7F <= code < 0xA0:
        return _C1_FROM_CP1252.get(code) or chr(code)
    return match[0]


def _is_entity(reference: str) -> bool:
    return reference[1] == "#" or reference[1:] in html5


def _is_tag(match: re.Match[str]) -> bool:
    return match[0].startswith("<!--") or match[2].lower() in HTML_ELEMENTS


def _close_or_unwrap(markup: str) -> str:
    """``markup`` without the start tags of dropped elements that are never closed (or are
    self-closed, ``<object/>``): an HTML parser would put all the text after such a tag
    inside the element, and dropping it would drop that text. Script and style stay: what
    follows an unclosed one is code to a browser too."""
    if "<" not in markup:
        return markup
    for name in DROPPED:
        if name in _RAW_TEXT or f"<{name}" not in markup.lower():
            continue
        pattern = re.compile(rf"<{name}(?=[\s/>])[^>]*?(/?)>|</{name}\s*>", re.I)
        open_at: list[re.Match[str]] = []
        unwrap: list[re.Match[str]] = []
        for match in pattern.finditer(markup):
            if match[0].startswith("</"):
                if open_at:
                    open_at.pop()
            elif match[1] or name == "embed":  # self-closed, or void (embed has no content)
                unwrap.append(match)
            else:
                open_at.append(match)
        unwrap += open_at
        for match in sorted(unwrap, key=lambda m: m.start(), reverse=True):
            markup = markup[: match.start()] + markup[match.end() :]
    return markup

"""Jinja + premailer: an Edition becomes inlined HTML, plain text and a subject, once.

Rendering and CSS inlining happen once per edition, never per subscriber. Subscriber
fields (``subscriber.name``, ``subscriber.<any CSV column>``, ``unsubscribe_url``) are
rendered as opaque merge tokens (letters, digits and underscores only, so premailer's href
rewriting and percent-encoding leave them alone); ``personalize`` swaps the tokens for
each subscriber's values. Pure: templates arrive as a mapping of name to source text.
"""

from __future__ import annotations

import functools
import html
import logging
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import jinja2

from ..errors import EditionTooLarge, InputError, TemplateError
from ..models import Edition
from .fitting import picture, shorten
from .languages import Language, find_language
from .rendered import ListInfo, RenderedEdition, Slot, archive_page_name
from .templates import catalog_sources
from .wrapping import columns, wrap

__all__ = ["ListInfo", "RenderedEdition", "Slot", "archive_page_name", "render_edition"]

HTML_TEMPLATE = "edition.html.j2"
TEXT_TEMPLATE = "edition.txt.j2"
SUBJECT_TEMPLATE = "subject.txt.j2"

# Gmail clips a message whose HTML is above ~102 KB; warn well before.
HTML_WARN_BYTES = 90 * 1024
HTML_LIMIT_BYTES = 102 * 1024
# Fields every subscriber has; CSV columns add more.
BUILTIN_FIELDS = ("email", "name", "unsubscribe_url")


class MergeField(str):
    """A merge token as Jinja sees it: a string that remembers its field."""

    __slots__ = ("field",)
    field: str


@dataclass
class _Tokens:
    """Hands out one token per (field, fallback), unique to this render."""

    known: frozenset[str]
    nonce: str = field(default_factory=lambda: secrets.token_hex(4))
    slots: dict[str, Slot] = field(default_factory=dict)

    def token(self, name: str, fallback: str = "") -> MergeField:
        if name not in self.known:
            raise jinja2.UndefinedError(
                f"'{name}' is not a subscriber field (known: {', '.join(sorted(self.known))})"
            )
        slot = Slot(name, fallback)
        tok = next((t for t, existing in self.slots.items() if existing == slot), None)
        if tok is None:
            tok = f"nlm{self.nonce}_{len(self.slots)}_"
            self.slots[tok] = slot
        merge = MergeField(tok)
        merge.field = name
        return merge

    @property
    def pattern(self) -> str:
        return rf"nlm{self.nonce}_\d+_"


class _SubscriberProxy:
    """``subscriber.<field>`` in templates: a merge token for any known field."""

    def __init__(self, tokens: _Tokens) -> None:
        self._tokens = tokens

    def __getattr__(self, name: str) -> MergeField:
        if name.startswith("_"):
            raise AttributeError(name)
        return self._tokens.token(name)

    def __getitem__(self, name: str) -> MergeField:
        return self._tokens.token(name)


def language_of(templates: Mapping[str, str], tag: str) -> Language:
    """The list's language with the catalogs among ``templates`` (``load_templates``).

    Raises:
        InputError: CLDR does not know ``tag``, or a catalog is malformed.
    """
    try:
        return find_language(tag, catalog_sources(templates))
    except ValueError as exc:
        raise InputError(f"language: {exc}", "write a language tag such as fr or pt-BR") from None


def make_environment(
    templates: Mapping[str, str], tokens: _Tokens, language: Language
) -> jinja2.Environment:
    """A Jinja environment over template sources: HTML autoescaped, undefined is an error,
    the words of ``{% trans %}`` and ``_()`` from the language's catalogs (newstyle
    gettext: values are escaped, ``%`` is written ``%%``), ``format_date``/``format_number``
    filters writing dates and numbers as the language does (CLDR)."""

    def load(name: str) -> tuple[str, str, Any] | None:
        source = templates.get(name)
        # The file name is the template name, so error tracebacks can say where.
        return None if source is None else (source, name, lambda: True)

    env = jinja2.Environment(
        loader=jinja2.FunctionLoader(load),
        # select_autoescape matches on the end of the name: list "html.j2" explicitly.
        autoescape=jinja2.select_autoescape(["html", "htm", "html.j2"]),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=False,
        extensions=["jinja2.ext.i18n"],
    )
    env.policies["ext.i18n.trimmed"] = True  # a {% trans %} block's line breaks are spaces
    env.install_gettext_translations(language.translations, newstyle=True)  # type: ignore[attr-defined]

    def default(value: Any, default_value: str = "", boolean: bool = False) -> Any:
        """Jinja's ``default``, also for merge fields: the fallback applies per subscriber."""
        if isinstance(value, MergeField):
            return tokens.token(value.field, str(default_value))
        return jinja2.filters.do_default(value, default_value, boolean)

    env.filters["default"] = env.filters["d"] = default
    env.filters["wrap"] = wrap
    env.filters["host"] = host
    env.filters["format_date"] = language.format_date
    env.filters["format_number"] = language.format_number
    env.filters["shorten"] = shorten
    env.filters["columns"] = columns
    env.globals["picture"] = picture
    return env


def host(url: str) -> str:
    """The site of a URL, for bylines: ``https://www.example.org/x`` → ``example.org``."""
    name = urlsplit(str(url)).hostname or ""
    return name.removeprefix("www.")


def render_edition(
    edition: Edition,
    templates: Mapping[str, str],
    info: ListInfo,
    merge_fields: Iterable[str] = (),
    *,
    web: bool = False,
) -> RenderedEdition:
    """Render subject, HTML and text for an edition and inline the HTML's CSS.

    ``merge_fields`` are the CSV columns templates may use as ``subscriber.<name>``.
    ``web`` renders the archive's page of the edition: templates see ``web`` true and show
    no reader-specific parts (fill its merge tokens with ``fill_neutral``).

    Raises:
        TemplateError: a template is missing, has a syntax error or uses an undefined
            name; the message names the template and line.
        EditionTooLarge: the HTML is above Gmail's clipping limit.
    """
    tokens = _Tokens(frozenset(BUILTIN_FIELDS) | frozenset(merge_fields))
    language = language_of(templates, info.language)
    env = make_environment(templates, tokens, language)
    context = _context(edition, info, tokens, language)
    context["web"] = web
    if web:  # no reader: a generic way to leave, never a token
        context["unsubscribe_url"] = f"mailto:{info.unsubscribe_mailto}?subject=unsubscribe"
    subject = " ".join(_render(env, SUBJECT_TEMPLATE, context).split())
    html = inline_css(_render(env, HTML_TEMPLATE, context))
    # Templates need not fight Jinja's whitespace: at most one blank line in a row.
    text = re.sub(r"\n\s*\n(\s*\n)+", "\n\n", _render(env, TEXT_TEMPLATE, context)).strip() + "\n"
    rendered = RenderedEdition(subject, html, text, dict(tokens.slots), tokens.pattern)
    if not web:
        check_size(rendered, len(edition.articles))
    return rendered


def render_page(templates: Mapping[str, str], name: str, context: dict[str, Any]) -> str:
    """Render a page template that has no reader (the archive's index): no merge fields,
    no CSS inlining (a browser reads the ``<style>`` block); in the language of the
    context's ``list`` (a ``ListInfo``), English without one.

    Raises:
        TemplateError: as ``render_edition``; InputError: as ``language_of``.
    """
    language = language_of(templates, getattr(context.get("list"), "language", "en"))
    env = make_environment(templates, _Tokens(frozenset()), language)
    return _render(env, name, {"web": True, "direction": language.direction, **context})


def _context(
    edition: Edition, info: ListInfo, tokens: _Tokens, language: Language
) -> dict[str, Any]:
    articles = edition.articles
    return {
        "edition": edition,
        "date": edition.key,
        "date_text": language.format_date(edition.key, "long"),
        "date_short": language.format_date(edition.key, "MMMd"),  # 29 Nov, 29 nov., 11月29日
        "weekday": language.weekday(edition.key),
        "direction": language.direction,  # ltr, or rtl for Arabic, Hebrew, Persian, Urdu
        "web_url": info.web_url(edition),
        "sections": edition.sections,
        "articles": articles,
        "lead": edition.lead,
        "preheader": " · ".join(a.title for a in articles[:3]),
        "list": info,
        "subscriber": _SubscriberProxy(tokens),
        "unsubscribe_url": tokens.token("unsubscribe_url"),
    }


def _render(env: jinja2.Environment, name: str, context: dict[str, Any]) -> str:
    try:
        return env.get_template(name).render(context)
    except jinja2.TemplateNotFound as exc:
        raise TemplateError(
            f"template {exc.name} not found", "add it to your templates folder or unset it"
        ) from None
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(
            f"{exc.name or name}:{exc.lineno}: {exc.message}", "fix the template"
        ) from None
    except KeyError as exc:  # a translation's %(name)s the template does not give
        where = _template_line(exc.__traceback__) or name
        raise TemplateError(
            f"{where}: a translation uses the placeholder {exc}, which this message lacks",
            "write the msgid's own %(name)s placeholders in the .po of the list's language",
        ) from None
    except (jinja2.TemplateError, TypeError, ValueError, AttributeError) as exc:
        where = _template_line(exc.__traceback__) or name
        raise TemplateError(f"{where}: {exc}", "fix the template") from None


def _template_line(tb: TracebackType | None) -> str | None:
    """The innermost template frame of a render traceback, as ``name:line``."""
    where = None
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if filename.endswith(".j2"):
            where = f"{filename}:{tb.tb_lineno}"
        tb = tb.tb_next
    return where


def inline_css(html: str) -> str:
    """Inline the ``<style>`` CSS into style attributes; ``@media`` rules stay in a block.

    premailer also mirrors some CSS into HTML attributes for old mail clients (``bgcolor``,
    ``align``, ``valign``); only those HTML allows on the element are kept, and never with
    ``!important`` in the value (``_mail_premailer``).
    """
    return _mail_premailer()(
        html,
        allow_network=False,  # never fetch <link> stylesheets
        strip_important=False,  # the hidden preheader and dark mode rely on !important
        keep_style_tags=False,  # @media blocks are kept anyway
        remove_classes=False,
        # premailer copies CSS width/height into attributes (img width="100%" height="auto"):
        # Outlook then shows thumbnails at full size. The templates set those attributes.
        disable_basic_attributes=["width", "height"],
        disable_validation=True,
        cssutils_logging_level=logging.CRITICAL,  # mso-*/-webkit-* would warn per property
    ).transform()


# The HTML 4.01 elements each presentational attribute premailer writes is defined on
# (the reference mail clients follow; HTML5 has none of them).
_ATTRIBUTE_ELEMENTS = {
    "bgcolor": frozenset({"body", "table", "tr", "td", "th"}),
    "valign": frozenset({"col", "colgroup", "tbody", "td", "tfoot", "th", "thead", "tr"}),
    "align": frozenset(
        {
            "applet", "caption", "col", "colgroup", "div", "h1", "h2", "h3", "h4", "h5", "h6",
            "hr", "iframe", "img", "input", "legend", "object", "p", "table", "tbody", "td",
            "tfoot", "th", "thead", "tr",
        }
    ),
}  # fmt: skip
_IMPORTANT = re.compile(r"\s*!\s*important\b", re.IGNORECASE)


@functools.cache
def _mail_premailer() -> type:
    """premailer's ``Premailer``, writing only valid attributes for CSS it mirrors into HTML.

    premailer 3.10 copies a declaration's ``!important`` into the attribute
    (``bgcolor="#fafafa !important"``) and adds ``bgcolor`` to any element with a
    background colour (``<img>`` included), both invalid HTML. Its attribute hook is the
    one place that knows which attribute it adds to which element.
    """
    # premailer (with cssutils and lxml) is ~25 MB: loaded only when an edition is rendered,
    # so a resumed send never pays for it.
    from premailer import Premailer

    class MailPremailer(Premailer):  # type: ignore[misc]
        def _style_to_basic_html_attributes(
            self, element: Any, style_content: str, force: bool = False
        ) -> None:
            before = dict(element.attrib)
            super()._style_to_basic_html_attributes(element, style_content, force)
            for name, allowed in _ATTRIBUTE_ELEMENTS.items():
                value = element.attrib.get(name)
                if value is None or before.get(name) == value:
                    continue  # not premailer's: the template's own attribute stays
                if str(element.tag).lower() in allowed:
                    value = _IMPORTANT.sub("", value)
                    # "#abc" -> "#aabbcc" (IBM Notes), now that "!important" is gone
                    element.attrib[name] = self.six_color(value) if name == "bgcolor" else value
                elif name in before:
                    element.attrib[name] = before[name]
                else:
                    del element.attrib[name]

    return MailPremailer


def check_size(rendered: RenderedEdition, articles: int | None = None) -> str | None:
    """Return a warning when the HTML nears Gmail's clipping size (90 KB), else None.

    Raises:
        EditionTooLarge: the HTML is above the ~102 KB at which Gmail clips it.
    """
    size = len(rendered.html.encode())
    how_big = f"{size / 1024:.1f} KB ({size:,} bytes)"
    count = f" for {articles} articles" if articles else ""
    cut = (
        "cut it down: fewer articles (lower max_articles), shorter leads (summaries), "
        "or a lighter template"
    )
    if size > HTML_LIMIT_BYTES:
        raise EditionTooLarge(
            f"the edition's HTML is {how_big}{count}, above the 102 KB at which Gmail clips "
            "messages (readers would not see the end, nor the unsubscribe link); nothing was sent",
            cut,
        )
    if size > HTML_WARN_BYTES:
        return (
            f"the edition's HTML is {how_big}{count}, close to the 102 KB at which Gmail "
            f"clips messages; {cut}"
        )
    return None


def fill_neutral(rendered: RenderedEdition, text: str, escape: bool) -> str:
    """Fill every merge token of ``text`` (a part of ``rendered``) with its fallback (or
    nothing): the copy for the web archive, which must hold no reader's data."""
    pattern = re.compile(rendered.token_pattern)

    def neutral(match: re.Match[str]) -> str:
        slot = rendered.slots.get(match.group(0))
        value = slot.fallback if slot else ""
        return html.escape(value) if escape else value

    return pattern.sub(neutral, text)

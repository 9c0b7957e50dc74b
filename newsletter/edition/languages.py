"""The list's language: dates and numbers as CLDR writes them (Babel), the templates' words
from gettext catalogs, and the direction of the script (left-to-right or right-to-left).

Catalogs are ``.po`` files named by language tag (``fr.po``, ``pt_BR.po``) in a ``locale``
folder: the package's (``templates/locale/``, shipped as ``default_templates/locale/``),
then the user's ``<templates>/locale/``, whose messages extend and override the package's.
``messages.pot`` beside the package's catalogs lists every message the default templates
and pages say: a message without a translation falls back to English and is reported.
They are compiled in memory when first used (no ``.mo`` build step), once per process for
the same sources. Pure: sources arrive as text, the caller reads the files.
"""

from __future__ import annotations

import functools
import io
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from gettext import NullTranslations

from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_skeleton, get_day_names
from babel.messages.catalog import Catalog, Message
from babel.messages.plurals import get_plural
from babel.messages.pofile import PoFileError, read_po
from babel.numbers import format_decimal
from babel.support import Translations

from ..errors import InputError
from .templates import CATALOG_FOLDER

log = logging.getLogger("newsletter")

TEMPLATE_CATALOG = "messages.pot"
MISSING_SHOWN = 3  # the warning names the first few missing messages, then counts
DATE_FORMS = ("full", "long", "medium", "short")
# The bare "en" (the default, any case) keeps the day-month-year form this project has
# always written, in every form and skeleton: CLDR's British patterns, the full form
# without its comma ("Sunday 29 November 2026"); "en-US", "en-GB"... get CLDR's own.
_DAY_MONTH_ENGLISH = Locale("en", "GB")
_PLAIN_ENGLISH_FULL = "EEEE d MMMM y"
# What Python's %-formatting with a mapping reads (Jinja's gettext always formats).
_PLACEHOLDER = re.compile(r"%%|%\([^)]*\)[#0 +-]*\d*(?:\.\d+)?[diouxXeEfFgGcrsa]")
_PO_LINE = re.compile(
    r'\s*(?:(?:msgctxt|msgid|msgid_plural|msgstr(?:\[\d+\])?)\s+)?"(?:[^"\\]|\\.)*"\s*'
)


def babel_locale(tag: str) -> Locale:
    """The CLDR locale of a BCP 47 tag (``pt-BR`` → ``pt_BR``, ``zh`` → ``zh_Hans``).

    Raises:
        ValueError: CLDR has no data for it (``xx``, ``klingon``).
    """
    try:
        return Locale.parse(tag.replace("_", "-"), sep="-")
    except (UnknownLocaleError, ValueError, TypeError) as exc:
        raise ValueError(f"CLDR has no language {tag!r}") from exc


def catalog_names(tag: str) -> tuple[str, ...]:
    """The catalog files a tag reads, general first, from the locale CLDR parses it to
    (so case, aliases and likely scripts count): ``pt-br`` → ``pt.po``, ``pt_BR.po``;
    ``zh-TW`` → ``zh_Hant.po``, ``zh_TW.po``, ``zh_Hant_TW.po`` (never ``zh.po``, which is
    Simplified Chinese); ``iw`` → ``he.po``, ``he_IL.po``.

    Raises:
        ValueError: CLDR has no data for it.
    """
    locale = babel_locale(tag)
    lang, script, territory = locale.language, locale.script, locale.territory
    names = [] if lang == "zh" and script == "Hant" else [lang]
    if script:
        names.append(f"{lang}_{script}")
    if territory:
        names.append(f"{lang}_{territory}")
        if script:
            names.append(f"{lang}_{script}_{territory}")
    return tuple(f"{name}.po" for name in names)


@dataclass(frozen=True, slots=True)
class Language:
    """A list's language as templates and pages use it.

    ``translations`` gives the words (English where a catalog lacks one); ``missing`` the
    messages of ``messages.pot`` no catalog translates; ``catalogs`` the files read.
    """

    tag: str
    locale: Locale
    translations: NullTranslations
    catalogs: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()

    @property
    def english(self) -> bool:
        return self.locale.language == "en"

    @property
    def direction(self) -> str:
        """``rtl`` for a right-to-left script (Arabic, Hebrew, Persian, Urdu), else ``ltr``:
        CLDR's character order for the locale."""
        return "rtl" if self.locale.character_order == "right-to-left" else "ltr"

    def gettext(self, message: str, **values: object) -> str:
        """``message`` in this language, ``%(name)s`` filled from ``values``."""
        text = self.translations.gettext(message)
        return text % values if values else text

    def ngettext(self, singular: str, plural: str, n: int | float, **values: object) -> str:
        """The plural form CLDR's rule picks for ``n``; ``%(num)s`` is ``n`` formatted."""
        text = self.translations.ngettext(singular, plural, n)  # type: ignore[arg-type]
        return text % {"num": self.format_number(n), **values}

    def format_date(self, day: date | datetime, form: str = "full") -> str:
        """``day`` written for this language: a CLDR form (``full``: ``dimanche 29 novembre
        2026``; ``long``, ``medium``, ``short``) or a CLDR skeleton (``MMMd``: ``29 nov.``)."""
        if isinstance(day, datetime):
            day = day.date()
        locale = self.locale
        if (locale.language, locale.territory, locale.script) == ("en", None, None):
            if form == "full":
                return format_date(day, _PLAIN_ENGLISH_FULL, locale=locale)
            locale = _DAY_MONTH_ENGLISH
        if form in DATE_FORMS:
            return format_date(day, form, locale=locale)
        return format_skeleton(form, day, locale=locale)

    def weekday(self, day: date) -> str:
        """The day's name: ``dimanche``, ``Sonntag``, ``日曜日``."""
        return str(get_day_names("wide", locale=self.locale)[day.weekday()])

    def format_time(self, moment: datetime, skeleton: str = "Hm") -> str:
        """A time of day as this language writes it (``14:05``, ``2:05 PM``)."""
        return format_skeleton(skeleton, moment, locale=self.locale)

    def format_number(self, number: int | float, grouping: bool = True) -> str:
        """``1234.5`` → ``1 234,5`` (fr), ``1.234,5`` (de), ``1,234.5`` (en); without
        ``grouping`` ``1234`` (an edition's number)."""
        return format_decimal(number, locale=self.locale, group_separator=grouping)


def find_language(tag: str, sources: Mapping[str, str]) -> Language:
    """The language ``tag`` with its catalogs among ``sources`` (path → ``.po`` text, the
    package's first, then the user's; ``messages.pot`` among them).

    Raises:
        ValueError: CLDR does not know ``tag``.
        InputError: a catalog is malformed (naming the file and line).
    """
    names = [name.lower() for name in catalog_names(tag)]  # unknown tag: ValueError
    picked = tuple((path, text) for path, text in sources.items() if _file_name(path) in names)
    # General before specific (pt, then pt_BR); a stable sort keeps, for each name, the
    # package's before the user's, so the user's wins.
    picked = tuple(sorted(picked, key=lambda item: names.index(_file_name(item[0]))))
    template = next((t for p, t in sources.items() if _file_name(p) == TEMPLATE_CATALOG), "")
    return _compiled(tag, picked, template)


def _file_name(path: str) -> str:
    """The file's name, lower case (``pt_br.po`` is ``pt_BR.po`` on any file system)."""
    return path.replace("\\", "/").rsplit("/", 1)[-1].lower()


@functools.lru_cache(maxsize=32)
def _compiled(tag: str, picked: tuple[tuple[str, str], ...], template: str) -> Language:
    """Compile once per process for the same sources (~10 ms a catalog with Babel)."""
    locale = babel_locale(tag)
    # One catalog under CLDR's plural rule for the locale (Babel's default without a
    # Plural-Forms header): the later file's translation of a message replaces the
    # earlier's, plural forms included.
    merged = Catalog(locale=locale)
    for path, text in picked:
        for message in _read_catalog(path, text, locale):
            if message.id and not message.fuzzy and _complete(message.string):
                merged.delete(message.id, message.context)
                merged[message.id] = message
    translations = _translations(merged)
    translated = {_msgid(m.id) for m in merged if m.id}
    expected = _template_ids(template)
    missing = () if locale.language == "en" else tuple(i for i in expected if i not in translated)
    language = Language(tag, locale, translations, tuple(p for p, _ in picked), missing)
    if missing:
        log.warning("%s", missing_report(language))
    return language


def _complete(string: object) -> bool:
    return all(string) if isinstance(string, tuple | list) else bool(string)


def _read_catalog(path: str, text: str, locale: Locale) -> Catalog:
    """Parse a ``.po`` text strictly: a broken file is the user's to fix, with its line.

    Raises:
        InputError: malformed, a plural rule other than CLDR's for ``locale``, or a
            translation whose placeholders are not its message's (``fr.po:12: ...``).
    """
    hint = "fix the line (msgid/msgstr pairs in double quotes), or remove the file"
    for number, line in enumerate(text.splitlines(), 1):
        # Babel reads an unterminated string without a word (and drops its last letter).
        if line.strip() and not line.lstrip().startswith("#") and not _PO_LINE.fullmatch(line):
            raise InputError(f"{path}:{number}: not a valid .po line: {line.strip()}", hint)
    try:
        catalog = read_po(io.StringIO(text), locale=locale, abort_invalid=True)
    except PoFileError as exc:
        line = getattr(exc, "lineno", 0) + 1  # Babel counts from 0
        raise InputError(f"{path}:{line}: not a valid .po catalog: {exc}", hint) from None
    _check_plural_rule(path, text, catalog, locale)
    for message, errors in catalog.check():  # Babel: placeholders, number of plural forms
        if message.fuzzy:
            continue  # never used: a changed sentence awaiting its translator
        raise InputError(
            f"{path}:{message.lineno}: the translation of {_msgid(message.id)!r}: {errors[0]}",
            "use exactly the %(name)s placeholders of the msgid (as written there)",
        )
    for message in catalog:
        _check_percent(path, message)
    return catalog


def _check_plural_rule(path: str, text: str, catalog: Catalog, locale: Locale) -> None:
    """A catalog's plural forms are CLDR's for the language: they are merged with the
    shipped ones and picked by CLDR's rule (Babel ``get_plural``).

    Raises:
        InputError: its ``Plural-Forms`` header gives another number of forms.
    """
    cldr = get_plural(locale)
    if catalog.num_plurals == cldr.num_plurals:
        return
    line = next((n for n, t in enumerate(text.splitlines(), 1) if "Plural-Forms:" in t), 1)
    raise InputError(
        f"{path}:{line}: Plural-Forms gives {catalog.num_plurals} plural form(s); CLDR gives "
        f"{locale} {cldr.num_plurals}",
        f'write "Plural-Forms: {cldr.plural_forms}\\n" and that many msgstr[N] per plural message',
    )


def _check_percent(path: str, message: Message) -> None:
    """The templates' gettext formats every translation with ``%`` (Jinja's newstyle
    gettext), so a lone ``%`` (``100% sûr``) would break the render: it is written ``%%``.

    Raises:
        InputError: a translation is not a valid format string where its msgid is.
    """
    ids = message.id if isinstance(message.id, tuple | list) else (message.id,)
    strings = message.string if isinstance(message.string, tuple | list) else (message.string,)
    if not message.id or message.fuzzy or not _formats(ids[0]):
        return
    for string in strings:
        if string and not _formats(string):
            raise InputError(
                f"{path}:{message.lineno}: the translation of "
                f"{_msgid(message.id)!r} has a lone % ({string!r})",
                "write a percent sign as %% in a .po translation",
            )


def _formats(text: str) -> bool:
    """Every ``%`` of ``text`` is ``%%`` or a named placeholder (``%(name)s``)."""
    return "%" not in _PLACEHOLDER.sub("", text)


def _translations(catalog: Catalog) -> Translations:
    """A gettext object from a parsed catalog, through an in-memory ``.mo``."""
    from babel.messages.mofile import write_mo

    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(fp=buffer)


def _template_ids(template: str) -> tuple[str, ...]:
    if not template:
        return ()
    catalog = read_po(io.StringIO(template))
    return tuple(_msgid(m.id) for m in catalog if m.id)


def _msgid(msgid: object) -> str:
    """A message's id: the singular of a plural message."""
    return str(msgid if isinstance(msgid, str) else msgid[0])  # type: ignore[index]


def missing_report(language: Language) -> str:
    """What a reader of ``language`` sees in English, in a sentence for the operator."""
    if not language.catalogs:
        return (
            f"language {language.tag}: no catalog (dates in {language.tag}, words in English); "
            f"add <templates>/{CATALOG_FOLDER}/{catalog_names(language.tag)[0]} to translate "
            "them (README: Languages)"
        )
    missing = language.missing
    shown = ", ".join(repr(m) for m in missing[:MISSING_SHOWN])
    more = f" and {len(missing) - MISSING_SHOWN} more" if len(missing) > MISSING_SHOWN else ""
    return (
        f"language {language.tag}: {len(missing)} message(s) not translated, shown in English: "
        f"{shown}{more}; add them to <templates>/{CATALOG_FOLDER}/"
        f"{catalog_names(language.tag)[-1]} (every message: {CATALOG_FOLDER}/{TEMPLATE_CATALOG}"
        " of the package; README: Languages)"
    )

"""The web archive, a folder of static pages anyone may read.

``<day>.html`` per edition (the edition's own templates rendered with ``web`` true: no
greeting, no address, no unsubscribe token), ``index.html`` listing them newest first, and
``feed.xml``, an Atom feed (RFC 4287) of the editions. Nothing personal can land here: the
pages are rendered for no reader and every merge token is filled with its neutral fallback.
Files are replaced atomically, so a web server never serves half a page.
"""

from __future__ import annotations

import html
import os
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, tzinfo
from pathlib import Path

from ..errors import InputError
from ..models import Edition
from ..store.database import Store
from ..subscribers.csvfile import subscriber_columns
from .languages import Language
from .plan import ArchiveSite, EditionInputs, frozen_edition
from .render import (
    ListInfo,
    archive_page_name,
    fill_neutral,
    language_of,
    render_edition,
    render_page,
)
from .rendered import RenderedEdition
from .templates import load_templates

Report = Callable[[str], None]

INDEX = "index.html"
FEED = "feed.xml"
INDEX_TEMPLATE = "archive_index.html.j2"
ATOM = "http://www.w3.org/2005/Atom"


@dataclass(frozen=True, slots=True)
class ArchivePage:
    """One edition as the index and the feed list it: its articles and its subject."""

    edition: Edition
    subject: str

    @property
    def name(self) -> str:
        return archive_page_name(self.edition.key)


def render_archive_page(
    edition: Edition, templates: Mapping[str, str], info: ListInfo, merge_fields: Sequence[str]
) -> str:
    """The HTML of an edition's archive page, rendered for no reader (neutral merge values).

    Raises:
        TemplateError: a template fails for the web edition.
    """
    rendered = render_edition(edition, templates, info, merge_fields, web=True)
    return fill_neutral(rendered, rendered.html, escape=True)


def index_html(pages: Sequence[ArchivePage], templates: Mapping[str, str], info: ListInfo) -> str:
    """The index page: every edition, newest first.

    Raises:
        TemplateError: ``archive_index.html.j2`` fails.
    """
    items = [
        {
            "day": p.edition.key,
            "number": p.edition.number,
            "subject": p.subject,
            "href": p.name,
            "lead": p.edition.lead.title,
            "headlines": [a.title for a in p.edition.articles],
            "sections": [s.name for s in p.edition.sections],
        }
        for p in _newest_first(pages)
    ]
    return render_page(templates, INDEX_TEMPLATE, {"list": info, "editions": items})


def atom_feed(pages: Sequence[ArchivePage], info: ListInfo, domain: str, list_id: str,
              zone: tzinfo, language: Language | None = None) -> bytes:  # fmt: skip
    """The Atom feed of the archive, newest first. Ids are ``tag:`` URIs (RFC 4151), so
    they never change even if the archive moves; links are relative to the feed unless
    ``archive_url`` is set. Its words in ``language`` (English without one)."""
    ET.register_namespace("", ATOM)
    ordered = _newest_first(pages)
    feed = ET.Element(
        f"{{{ATOM}}}feed", {"{http://www.w3.org/XML/1998/namespace}lang": info.language}
    )
    first_day = min((p.edition.key for p in pages), default=date(2000, 1, 1))
    _text(feed, "title", info.name)
    language = language or language_of({}, "en")  # no catalog: the messages as written
    _ = language.gettext
    _text(feed, "subtitle", _("Every edition of %(name)s", name=info.name))
    _text(feed, "id", f"tag:{domain},{first_day.isoformat()}:{list_id}")
    updated = _stamp(ordered[0].edition.key, zone) if ordered else _stamp(first_day, zone)
    _text(feed, "updated", updated)
    base = f"{info.archive_url.rstrip('/')}/" if info.archive_url else ""
    if base:
        ET.SubElement(feed, f"{{{ATOM}}}link", rel="self", href=base + FEED)
    ET.SubElement(feed, f"{{{ATOM}}}link", rel="alternate", type="text/html", href=base + INDEX)
    author = ET.SubElement(feed, f"{{{ATOM}}}author")
    _text(author, "name", info.name)
    _text(feed, "generator", "newsletter")
    for page in ordered:
        day = page.edition.key
        day_text = language.format_date(day, "long")
        _entry(feed, page, f"{page.edition.lead.title} — {day_text}", base, domain, list_id, zone)
    ET.indent(feed)
    return ET.tostring(feed, encoding="utf-8", xml_declaration=True) + b"\n"


def _entry(feed: ET.Element, page: ArchivePage, title: str, base: str, domain: str,
           list_id: str, zone: tzinfo) -> None:  # fmt: skip
    """One edition's entry, titled ``title``: the whole lead headline and the long date,
    as the edition's page is titled (the subject is cut for a phone's inbox)."""
    edition = page.edition
    entry = ET.SubElement(feed, f"{{{ATOM}}}entry")
    _text(entry, "title", title)
    _text(entry, "id", f"tag:{domain},{edition.key.isoformat()}:{list_id}/{edition.number}")
    _text(entry, "updated", _stamp(edition.key, zone))
    _text(entry, "published", _stamp(edition.key, zone))
    ET.SubElement(
        entry, f"{{{ATOM}}}link", rel="alternate", type="text/html", href=base + page.name
    )
    _text(entry, "summary", " · ".join(a.title for a in edition.articles))
    items = "".join(
        f"<li><a href=\"{html.escape(a.url)}\">{html.escape(a.title)}</a></li>" if a.url
        else f"<li>{html.escape(a.title)}</li>"
        for a in edition.articles
    )  # fmt: skip
    content = _text(entry, "content", f"<ul>{items}</ul>")
    content.set("type", "html")


def _text(parent: ET.Element, tag: str, text: str) -> ET.Element:
    element = ET.SubElement(parent, f"{{{ATOM}}}{tag}")
    element.text = text
    return element


def _stamp(day: date, zone: tzinfo) -> str:
    """An edition's Atom timestamp: the start of its day in the list's time zone (stable,
    so rebuilding the archive does not make every reader see every edition as updated)."""
    return datetime.combine(day, time(0), zone).isoformat()


def _newest_first(pages: Sequence[ArchivePage]) -> list[ArchivePage]:
    return sorted(pages, key=lambda p: p.edition.key, reverse=True)


def write_archive(folder: Path, files: Mapping[str, str | bytes]) -> None:
    """Write the named files into ``folder`` (created if needed), each atomically.

    Raises:
        InputError: the folder or a file cannot be written.
    """
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for name, content in files.items():
            data = content.encode() if isinstance(content, str) else content
            _atomic_write(folder / name, data)
    except OSError as exc:
        raise InputError(
            f"{folder}: cannot write the web archive: {exc.strerror}",
            "check the 'archive' setting and the folder's permissions",
        ) from None


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; the web server must read it
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# --- the site, built from the database ------------------------------------------------


def build_archive(
    site: ArchiveSite, inputs: EditionInputs, store: Store, only: date | None = None
) -> int:
    """Write the archive's pages (every edition, or only the day ``only``), its index and
    its feed; return how many editions it lists.

    Raises:
        InputError: the folder cannot be written; TemplateError: a template fails.
    """
    templates = load_templates(inputs.templates)
    fields = _archive_fields(inputs.subscribers)
    pages: list[ArchivePage] = []
    files: dict[str, str | bytes] = {}
    for stored, _counts in store.editions():
        edition = frozen_edition(store, stored)
        # The subject as sent (frozen), its merge fields neutral: cheap, no re-rendering.
        frozen = RenderedEdition.from_json(stored.rendered)
        pages.append(ArchivePage(edition, fill_neutral(frozen, frozen.subject, False)))
        # Only the pages asked for are rendered (premailer costs ~0.1 s a page).
        if only is None or stored.day == only:
            html = render_archive_page(edition, templates, inputs.info, fields)
            files[archive_page_name(stored.day)] = html
    files[INDEX] = index_html(pages, templates, inputs.info)
    language = language_of(templates, inputs.info.language)
    files[FEED] = atom_feed(pages, inputs.info, site.domain, site.list_id, site.zone, language)
    write_archive(site.folder, files)
    return len(pages)


def _archive_fields(subscribers: Path) -> list[str]:
    """The CSV columns, so a template's ``subscriber.city`` renders (neutral) on the web
    too; an unreadable list does not stop the archive."""
    try:
        return subscriber_columns(subscribers)
    except InputError:
        return []


def publish_edition(
    site: ArchiveSite, inputs: EditionInputs, store: Store, day: date, report: Report
) -> None:
    """Put the day's edition on the web archive (a send's step, after freezing).

    A failure is reported and the send goes on: the archive is a copy, the mail is the
    product; ``newsletter archive`` rebuilds it later.
    """
    try:
        build_archive(site, inputs, store, only=day)
    except InputError as exc:
        report(f"web archive not updated: {exc}")

"""The design issue's part of the job (#5), wired over the adapters like ``pipeline``.

- section variants: render and freeze, before the first message goes out, one variant
  per distinct ``sections`` choice in the subscriber list;
- the web archive: publish the day's edition after it is frozen, rebuild it all on demand;
- previews in a browser: screenshots of the preview at desktop and phone widths.

Part of the wiring layer (it imports adapters); ``pipeline`` calls it at two delimited hooks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from ..collect.folders import load_templates
from ..errors import InputError
from ..job import EditionPlan, list_info, merge_fields
from ..models import Edition
from ..settings.config import Settings
from ..store.database import Store, StoredEdition
from ..store.lock import run_lock
from ..subscribers.csvfile import column_values
from .compose import regroup
from .rendered import RenderedEdition, archive_page_name

if TYPE_CHECKING:
    from .archive import ArchivePage
from .variants import FULL, SECTIONS_COLUMN, Variants, variant_edition, variant_key

Report = Callable[[str], None]


def frozen_edition(store: Store, stored: StoredEdition) -> Edition:
    """A frozen edition rebuilt from the database, articles in their frozen order.

    Raises:
        InputError: the edition's articles are missing from the database.
    """
    articles = store.articles_by_id(list(stored.article_ids))
    edition = regroup(articles, day=stored.day, number=stored.number)
    if edition is None or len(articles) != len(stored.article_ids):
        raise InputError(f"{store.path}: the articles of edition {stored.day} are missing")
    return edition


def prepare_variants(settings: Settings, store: Store, plan: EditionPlan) -> Variants:
    """Every section variant the subscriber list asks for, rendered once and frozen.

    Variants frozen by an earlier run are reused as they are (a resumed send sends the
    same bytes); only choices new since then are rendered, still before anything is sent.

    Raises:
        InputError, TemplateError, EditionTooLarge: nothing has been sent.
    """
    assert plan.stored is not None
    choices = column_values(settings.subscribers, SECTIONS_COLUMN)
    if not any(choices):  # no column, or everyone takes the whole edition
        return Variants(())
    edition = frozen_edition(store, plan.stored)
    names = tuple(s.name for s in edition.sections)
    wanted = {variant_key(names, c) for c in choices} - {None, FULL}
    frozen = store.variants(plan.stored.id)
    missing = sorted(k for k in wanted if k is not None and k not in frozen)
    if missing:
        from .render import render_edition  # Jinja and premailer: only when rendering

        templates, info = load_templates(settings.templates), list_info(settings)
        fields = merge_fields(settings)
        new = {}
        for key in missing:
            rendered = render_edition(variant_edition(edition, key), templates, info, fields)
            new[key] = (rendered.to_json(), rendered.fingerprint)
        store.freeze_variants(plan.stored.id, new)
        frozen = store.variants(plan.stored.id)
    rendered_variants = {k: RenderedEdition.from_json(frozen[k]) for k in wanted if k}
    return Variants(names, rendered_variants)


# --- the web archive ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ArchiveResult:
    folder: Path
    editions: int


def _archive_fields(settings: Settings) -> list[str]:
    """The CSV columns, so a template's ``subscriber.city`` renders (neutral) on the web
    too; an unreadable list does not stop the archive."""
    try:
        return merge_fields(settings)
    except InputError:
        return []


def build_archive(settings: Settings, store: Store, only: date | None = None) -> ArchiveResult:
    """Write the archive's pages (every edition, or only the day ``only``), its index and
    its feed.

    Raises:
        InputError: the folder cannot be written; TemplateError: a template fails.
    """
    assert settings.archive is not None
    from . import archive  # Jinja and premailer: only when the archive is written
    from .render import fill_neutral

    templates, info = load_templates(settings.templates), list_info(settings)
    fields = _archive_fields(settings)
    pages: list[ArchivePage] = []
    files: dict[str, str | bytes] = {}
    for stored, _counts in store.editions():
        edition = frozen_edition(store, stored)
        # The subject as sent (frozen), its merge fields neutral: cheap, no re-rendering.
        frozen = RenderedEdition.from_json(stored.rendered)
        pages.append(archive.ArchivePage(edition, fill_neutral(frozen, frozen.subject, False)))
        # Only the pages asked for are rendered (premailer costs ~0.1 s a page).
        if only is None or stored.day == only:
            html = archive.render_archive_page(edition, templates, info, fields)
            files[archive_page_name(stored.day)] = html
    files[archive.INDEX] = archive.index_html(pages, templates, info)
    files[archive.FEED] = archive.atom_feed(
        pages, info, settings.from_domain, settings.list_identifier, settings.zone
    )
    archive.write_archive(settings.archive, files)
    return ArchiveResult(settings.archive, len(pages))


def publish_edition(settings: Settings, store: Store, plan: EditionPlan, report: Report) -> None:
    """The send's hook: put the day's edition on the web archive (when there is one).

    A failure is reported and the send goes on: the archive is a copy, the mail is the
    product; ``newsletter archive`` rebuilds it later.
    """
    if settings.archive is None:
        return
    try:
        build_archive(settings, store, only=plan.day)
    except InputError as exc:
        report(f"web archive not updated: {exc}")


def run_archive(settings: Settings) -> ArchiveResult:
    """``newsletter archive``: rebuild the whole web archive from the database.

    Raises:
        ConfigError: the archive is turned off; LockedError: a send is running.
        InputError, TemplateError: as ``build_archive``.
    """
    from ..errors import ConfigError

    if settings.archive is None:
        raise ConfigError("the web archive is turned off", "set 'archive' to a folder")
    lock_path = settings.database.with_name(settings.database.name + ".lock")
    with run_lock(lock_path), Store(settings.database) as store:
        return build_archive(settings, store)


# --- previews in a real browser -------------------------------------------------------

SCREEN_WIDTHS = {"desktop": 1200, "phone": 375}


def screenshot_preview(html_path: Path) -> list[Path]:
    """Render a preview in headless Chromium at desktop and phone widths; write
    ``<name>.desktop.png`` and ``<name>.phone.png`` next to it and return their paths.

    Raises:
        BrowserError: Chromium is missing or failed (the message says how to install it).
    """
    from .browser import Browser

    shots = []
    with Browser() as browser:
        for label, width in SCREEN_WIDTHS.items():
            browser.open(html_path, width)
            out = html_path.with_name(f"{html_path.stem}.{label}.png")
            browser.screenshot(out)
            shots.append(out)
    return shots

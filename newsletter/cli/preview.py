"""``newsletter preview``: the day's edition as files, exactly what a subscriber would get,
personalised for a sample subscriber; ``--screenshot`` and ``--open`` show it.

Records and sends nothing: the database is only read (and not created).
"""

from __future__ import annotations

import argparse
import logging
import sys
import webbrowser
from datetime import date, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import visible
from ..models import Subscriber
from ..settings import Settings
from .arguments import day as day_type

if TYPE_CHECKING:
    from ..edition.plan import EditionPlan
    from ..edition.preview import PreviewFiles
    from ..store.database import Store

log = logging.getLogger("newsletter")
SAMPLE = Subscriber(email="reader@example.com", name="Sample Reader")


def add_parsers(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    preview = commands.add_parser(
        "preview", help="write the edition as .html, .txt and .eml files; send nothing"
    )
    preview.add_argument("--date", type=day_type, help="the edition's date (default: today)")
    preview.add_argument("--out", type=Path, help="folder for the files (default: previews/)")
    preview.add_argument("--open", action="store_true", help="open the HTML in your web browser")
    preview.add_argument(
        "--screenshot",
        action="store_true",
        help="also write desktop (1200 px) and phone (375 px) PNGs next to it (needs chromium)",
    )


def run(args: argparse.Namespace, settings: Settings, now: datetime) -> int:
    files = run_preview(settings, now, args.out or settings.previews, args.date)
    if files is None:
        print("no new articles: nothing to preview")
        return 0
    if files.warning:
        print(f"newsletter: warning: {files.warning}", file=sys.stderr)
    print(files.html)
    if args.screenshot:
        from ..edition.browser import screenshot_preview

        for shot in screenshot_preview(files.html):
            print(shot)
    if args.open and not webbrowser.open(files.html.resolve().as_uri()):
        print(
            f"newsletter: no web browser could be started: open {files.html} yourself",
            file=sys.stderr,
        )
    return 0


def run_preview(
    settings: Settings, now: datetime, out_dir: Path, day: date | None = None
) -> PreviewFiles | None:
    """Write the day's edition as HTML, text and .eml files; None when there is nothing.

    Raises:
        ConfigError, InputError, TemplateError, EditionTooLarge.
    """
    from ..edition.preview import write_preview
    from ..edition.render import check_size
    from ..job import edition_day
    from ..mail.personalize import MessageTemplate
    from ..settings import values
    from ..store.database import Store

    day = edition_day(settings, now, day)
    store = Store(settings.database) if settings.database.exists() else None
    try:
        plan = _preview_plan(settings, store, day, now)
    finally:
        if store is not None:
            store.close()
    if plan is None:
        return None
    context = values.mail_context(settings, plan, values.secret_key(settings, None), now)
    template = MessageTemplate(plan.rendered, context)
    sample = Subscriber(SAMPLE.email, SAMPLE.name, fields=_sample_fields(settings))
    _, data = template.build(sample, format_datetime(now))
    return write_preview(out_dir, day, data, check_size(plan.rendered))


def _preview_plan(
    settings: Settings, store: Store | None, day: date, now: datetime
) -> EditionPlan | None:
    """The frozen edition of that day (its articles, rendered with the current templates
    and settings, as the next send renders it), else what a send would compose now."""
    from ..edition.freeze import current_plan, plan_edition, rendering_changed
    from ..settings import values

    if store is not None and (stored := store.edition_for(day)) is not None:
        plan = current_plan(values.edition_inputs(settings), store, stored)
        if rendering_changed(plan) and store.delivery_counts(stored.id).get("sent"):
            _warn(
                "templates or settings changed since this edition was first sent: this "
                "preview shows the current version, which the next send uses (same articles)"
            )
        return plan
    from ..collect.collector import preview_articles  # feeds and HTTP: only to compose

    config = values.collect_config(settings)
    articles = {a.id: a for a in preview_articles(config, store, now, _warn)}
    number = 1
    if store is not None:  # what a send would take: nothing already in an edition
        for taken in store.in_editions(list(articles)):
            del articles[taken]
        articles.update({a.id: a for a in store.unassigned_articles()})
        number = store.next_edition_number()
    return plan_edition(values.edition_inputs(settings), list(articles.values()), day, number)


def _sample_fields(settings: Settings) -> dict[str, str]:
    from ..subscribers.csvfile import subscriber_columns

    fields = {name: f"[{name}]" for name in subscriber_columns(settings.subscribers)}
    fields.update(email=SAMPLE.email, name=SAMPLE.name)
    return fields


def _warn(problem: str) -> None:
    log.warning("%s", visible(problem))  # it may quote feed content: no terminal escapes


HANDLERS = {"preview": run}

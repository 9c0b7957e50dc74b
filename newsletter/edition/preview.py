"""``newsletter preview``: the day's edition as files a person can open.

Writes exactly what a subscriber would get, personalised for a sample subscriber, and
records and sends nothing: the database is only read (and not created).
"""

from __future__ import annotations

import email
import email.policy
from dataclasses import dataclass
from datetime import date, datetime
from email.utils import format_datetime
from pathlib import Path

from ..errors import InputError
from ..job import (
    EditionPlan,
    edition_day,
    mail_context,
    merge_fields,
    plan_edition,
    plan_from,
    preview_articles,
    secret_key,
)  # fmt: skip
from ..mail.personalize import MessageTemplate
from ..models import Subscriber
from ..settings.config import Settings
from ..store.database import Store
from .render import check_size

SAMPLE = Subscriber(email="reader@example.com", name="Sample Reader")


@dataclass(frozen=True, slots=True)
class PreviewFiles:
    html: Path
    text: Path
    eml: Path
    warning: str | None


def run_preview(
    settings: Settings, now: datetime, out_dir: Path, day: date | None = None
) -> PreviewFiles | None:
    """Write the day's edition as HTML, text and .eml files; None when there is nothing.

    Raises:
        ConfigError, InputError, TemplateError, EditionTooLarge.
    """
    day = edition_day(settings, now, day)
    store = Store(settings.database) if settings.database.exists() else None
    try:
        plan = _preview_plan(settings, store, day, now)
    finally:
        if store is not None:
            store.close()
    if plan is None:
        return None
    context = mail_context(settings, plan, secret_key(settings, None), now)
    template = MessageTemplate(plan.rendered, context)
    sample = Subscriber(SAMPLE.email, SAMPLE.name, fields=_sample_fields(settings))
    _, data = template.build(sample, format_datetime(now))
    message = email.message_from_bytes(data, policy=email.policy.default)
    parts = {
        part.get_content_type(): part.get_content().replace("\r\n", "\n")
        for part in message.iter_parts()  # type: ignore[attr-defined]
    }
    files = PreviewFiles(
        out_dir / f"{day}.html", out_dir / f"{day}.txt", out_dir / f"{day}.eml",
        check_size(plan.rendered),
    )  # fmt: skip
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        files.html.write_text(parts["text/html"], encoding="utf-8")
        files.text.write_text(parts["text/plain"], encoding="utf-8")
        files.eml.write_bytes(data)
    except OSError as exc:
        raise InputError(f"{out_dir}: cannot write the preview: {exc.strerror}") from None
    return files


def _preview_plan(
    settings: Settings, store: Store | None, day: date, now: datetime
) -> EditionPlan | None:
    """The frozen edition of that day, else what a send would compose now."""
    if store is not None and (stored := store.edition_for(day)) is not None:
        return plan_from(stored)
    articles = {a.id: a for a in preview_articles(settings, store, now)}
    number = 1
    if store is not None:  # what a send would take: nothing already in an edition
        for taken in store.in_editions(list(articles)):
            del articles[taken]
        articles.update({a.id: a for a in store.unassigned_articles()})
        number = store.next_edition_number()
    return plan_edition(settings, list(articles.values()), day, number)


def _sample_fields(settings: Settings) -> dict[str, str]:
    fields = {name: f"[{name}]" for name in merge_fields(settings)}
    fields.update(email=SAMPLE.email, name=SAMPLE.name)
    return fields

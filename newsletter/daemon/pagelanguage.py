"""The language of the daemon's pages: the list's, with its catalogs (``edition.languages``)."""

from __future__ import annotations

import functools
import sys
from datetime import datetime
from pathlib import Path

from ..edition.languages import Language
from ..edition.render import language_of
from ..edition.templates import load_templates
from ..errors import NewsletterError
from ..settings import Settings


def pages_language(settings: Settings) -> Language:
    """The list's language for the daemon's pages; English (said on stderr) when its
    catalogs cannot be read, so a broken catalog never takes the unsubscribe page down.
    Read once per process, as the settings are: not from disk on every request."""
    return _read_language(settings.templates, settings.language)


@functools.lru_cache(maxsize=4)
def _read_language(templates: Path | None, tag: str) -> Language:
    try:
        return language_of(load_templates(templates), tag)
    except NewsletterError as exc:
        print(f"newsletter serve: pages in English: {exc}", file=sys.stderr, flush=True)
        return language_of({}, "en")


def retry_at(settings: Settings, moment: datetime, now: datetime) -> str:
    """``14:05 UTC``, or ``14:05 UTC, 3 December`` on another day, in the list's language."""
    lang = pages_language(settings)
    time = f"{lang.format_time(moment)} UTC"
    if moment.date() == now.date():
        return time
    return lang.gettext("%(time)s, %(day)s", time=time, day=lang.format_date(moment, "MMMMd"))


def confirm_hours(settings: Settings) -> int | float:
    """How long a confirmation link works, in hours, for templates: ``48``, not ``48.0``."""
    hours = settings.confirm_hours
    return int(hours) if hours == int(hours) else hours

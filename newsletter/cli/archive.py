"""``newsletter archive``: rebuild the web archive from the database."""

from __future__ import annotations

import argparse
from datetime import datetime

from ..errors import ConfigError
from ..settings import Settings
from .arguments import short


def add_parsers(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    commands.add_parser(
        "archive", help="rebuild the web archive (a page per edition, index, Atom feed)"
    )


def run(args: argparse.Namespace, settings: Settings, now: datetime) -> int:
    """Raises: ConfigError (the archive is off), LockedError, InputError, TemplateError."""
    from ..edition.archive import build_archive  # Jinja and premailer
    from ..settings import values
    from ..store.database import Store
    from ..store.lock import lock_path, run_lock

    site = values.archive_site(settings)
    if site is None:
        raise ConfigError("the web archive is turned off", "set 'archive' to a folder")
    with run_lock(lock_path(settings.database)), Store(settings.database) as store:
        editions = build_archive(site, values.edition_inputs(settings), store)
    plural = "s" * (editions != 1)
    print(f"web archive rebuilt in {short(site.folder)}/: {editions} edition{plural}")
    return 0


HANDLERS = {"archive": run}

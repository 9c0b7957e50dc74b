"""``newsletter archive``: rebuild the web archive from the database."""

from __future__ import annotations

import argparse
from datetime import datetime

from ..errors import ConfigError
from ..settings import Settings
from .arguments import short
from .cells import count_of


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
    print(f"web archive rebuilt in {short(site.folder)}/: {count_of(editions, 'edition')}")
    return 0


HANDLERS = {"archive": run}

"""``newsletter collect``: store new articles from the sources and list them."""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from datetime import datetime

from ..models import NotTaken
from ..settings import Settings


def add_parsers(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    collect = commands.add_parser(
        "collect", help="store new articles from the sources and list them"
    )
    collect.add_argument(
        "-v", "--verbose", action="store_true",
        help="also list every item not taken (already seen, duplicate, ...) and why",
    )  # fmt: skip


def run(args: argparse.Namespace, settings: Settings, now: datetime) -> int:
    from ..errors import visible
    from ..job import run_collect

    collection = run_collect(settings, now)
    for a in collection.articles:
        # Feed content on a terminal: escape sequences in a title or a guid are shown, not run.
        print(visible(f"  [{a.section}] {a.title}  ({a.id})"))
    if args.verbose:
        print("\n".join(not_taken_lines(collection.not_taken)) or "  (every item was taken)")
    print(collection.summary())
    return 0


def not_taken_lines(items: Iterable[NotTaken]) -> list[str]:
    """One line per item not taken: ``  - already seen: [source] Title  (link)``, escaped
    for the terminal."""
    from ..errors import visible

    return [
        visible(f"  - {item.reason}: [{item.source}] {item.title}  ({item.link or 'no link'})")
        for item in items
    ]


HANDLERS = {"collect": run}

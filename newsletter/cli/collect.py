"""``newsletter collect``: store new articles from the sources and list them."""

from __future__ import annotations

import argparse
from datetime import datetime

from ..settings import Settings


def add_parsers(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    commands.add_parser("collect", help="store new articles from the sources and list them")


def run(args: argparse.Namespace, settings: Settings, now: datetime) -> int:
    from ..job import run_collect

    articles = run_collect(settings, now)
    for a in articles:
        print(f"  [{a.section}] {a.title}  ({a.id})")
    print(f"{len(articles)} new article{'s' * (len(articles) != 1)} stored")
    return 0


HANDLERS = {"collect": run}

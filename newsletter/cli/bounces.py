"""``newsletter bounces``: read the bounce mailbox once; bounces and complaints change the
list, and what changed nobody but may need a person is listed."""

from __future__ import annotations

import argparse
from datetime import datetime

from ..settings import Settings

KINDS = {"unrecognised": "unrecognised", "forged": "forged or stray", "not-listed": "not listed"}


def add_parsers(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    bounces = commands.add_parser(
        "bounces",
        help="read the bounce mailbox: bounces and complaints change the list",
        description="Read bounce_mailbox once: hard bounces mark the address bounced, soft "
        "ones count (soft_bounce_limit editions), complaints unsubscribe. Exit codes: 0 "
        "done, 1 the mailbox could not be reached (nothing changed), 2 configuration "
        "error, 3 another run holds the lock.",
    )
    bounces.add_argument(
        "-v", "--verbose", action="store_true",
        help="also name every address that was marked bounced or unsubscribed",
    )  # fmt: skip


def run(args: argparse.Namespace, settings: Settings, now: datetime) -> int:
    from ..bounces.apply import summary_line
    from ..errors import visible
    from ..job import run_bounces

    summary = run_bounces(settings, now)
    for item in summary.listed:
        # A report's text on a terminal: escape sequences are shown, not run.
        print(visible(f"  {item.origin}: {KINDS.get(item.kind, item.kind)}: {item.why}"))
    if args.verbose:
        for email in summary.bounced:
            print(f"  bounced: {email}")
        for email in summary.unsubscribed:
            print(f"  unsubscribed (complaint): {email}")
    print(summary_line(summary))
    return 0


HANDLERS = {"bounces": run}

"""``newsletter bounces``: read the bounce mailbox once; bounces and complaints change the
list, and what changed nobody but may need a person is listed."""

from __future__ import annotations

import argparse
from datetime import datetime
from typing import TYPE_CHECKING

from ..settings import Settings
from .cells import count_of

if TYPE_CHECKING:
    from ..bounces.apply import BounceSummary

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
    from ..collect.plaintext import visible
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


def summary_line(s: BounceSummary) -> str:
    """``bounces: 2 hard bounces, 1 soft bounce, 1 complaint, 1 auto-reply ignored, 0
    unrecognised, 0 forged or stray`` (then the rarer counts when there are any)."""
    parts = [
        count_of(s.hard, "hard bounce"),
        count_of(s.soft, "soft bounce"),
        count_of(s.complaints, "complaint"),
        count_of(s.autoreplies, "auto-reply", "auto-replies") + " ignored",
        f"{s.unrecognised} unrecognised",
        f"{s.forged} forged or stray",
    ]
    if s.not_listed:
        parts.append(f"{s.not_listed} not on the list")
    if s.duplicates:
        parts.append(f"{s.duplicates} already processed")
    changed = len(s.bounced) + len(s.unsubscribed)
    tail = f"; {count_of(changed, 'subscriber')} left the list" if changed else ""
    return "bounces: " + ", ".join(parts) + tail


HANDLERS = {"bounces": run}

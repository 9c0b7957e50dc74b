"""The command line: parse arguments, run a command, turn errors into messages and exit codes.

A thin layer: each command group is a module of this package with ``add_parsers`` and
``HANDLERS``; the work is a call into the job or a stage. Problems go to stderr (cron mails
them); a one-line summary goes to stdout.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from ..errors import NewsletterError
from ..settings import Settings, load_settings
from . import (
    archive,
    bounces,
    collect,
    daemon,
    dkim,
    preview,
    review,
    send,
    sources,
    status,
    subscribers,
)
from .output import setup_logging

# Each command imports what it needs when it runs: a send never loads the HTTP, feed,
# browser or web stacks (memory: the budget is 80 MB for a million subscribers).
# In the order `newsletter --help` lists them.
GROUPS = (
    send, review, preview, archive, collect, status, sources, subscribers, bounces, dkim, daemon,
)  # fmt: skip
Handler = Callable[[argparse.Namespace, Settings, datetime], int]
HANDLERS: dict[str, Handler] = {
    name: handler for group in GROUPS for name, handler in group.HANDLERS.items()
}
SENDS_MAIL = ("send", "serve")  # checked before they collect, freeze or send anything


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="newsletter",
        description="Collect new articles, compose the Daily Newsletter and deliver it.",
        epilog="Exit codes: 0 done, 1 some deliveries failed or were deferred, "
        "2 usage/config/input error (nothing sent), 3 another run holds the lock.",
    )
    parser.add_argument(
        "--config", type=Path, help="config file (default: ./newsletter.toml if present)"
    )
    parser.add_argument(
        "--log-format", choices=("text", "json"), default="text",
        help="log lines as text (default) or JSON objects, one per line",
    )  # fmt: skip
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in GROUPS:
        group.add_parsers(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; return the exit code (also used by ``python -m newsletter``)."""
    args = build_parser().parse_args(argv)
    setup_logging(args.log_format)
    now = datetime.now(UTC)
    try:
        settings, _ = load_settings(args.config)
        if args.command in SENDS_MAIL:
            from ..settings.values import check_sending

            check_sending(settings)
        return HANDLERS[args.command](args, settings, now)
    except NewsletterError as exc:
        print(f"newsletter: error: {exc}", file=sys.stderr)
        return int(exc.exit_code)
    except KeyboardInterrupt:
        print("newsletter: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

"""The command line: parse arguments, run the job, turn errors into messages and exit codes.

A thin layer: everything it does is a call into ``pipeline``. Problems go to stderr (cron
mails them); a one-line summary goes to stdout.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, date, datetime
from pathlib import Path

from . import cli_lists
from .errors import ExitCode, NewsletterError
from .models import RunSummary
from .pipeline import run_collect, run_preview, run_send
from .settings import Settings, load_settings


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date: use YYYY-MM-DD") from None


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
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    send = commands.add_parser(
        "send", help="collect, compose the day's edition and deliver it to every subscriber"
    )
    send.add_argument("--date", type=_day, help="the edition's date, YYYY-MM-DD (default: today)")

    preview = commands.add_parser(
        "preview", help="write the edition as .html, .txt and .eml files; send nothing"
    )
    preview.add_argument("--date", type=_day, help="the edition's date (default: today)")
    preview.add_argument("--out", type=Path, help="folder for the files (default: previews/)")

    commands.add_parser("collect", help="store new articles from the sources and list them")
    cli_lists.add_parsers(commands)  # issue 6: subscribers, serve, dkim
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; return the exit code (also used by ``python -m newsletter``)."""
    args = build_parser().parse_args(argv)
    now = datetime.now(UTC)
    try:
        settings, _ = load_settings(args.config)
        return _dispatch(args, settings, now)
    except NewsletterError as exc:
        print(f"newsletter: error: {exc}", file=sys.stderr)
        return int(exc.exit_code)
    except KeyboardInterrupt:
        print("newsletter: interrupted", file=sys.stderr)
        return 130


def _warn(message: str) -> None:
    print(f"newsletter: {message}", file=sys.stderr)


def _dispatch(args: argparse.Namespace, settings: Settings, now: datetime) -> int:
    if args.command == "send":
        summary = run_send(settings, now, lambda: datetime.now(UTC), _warn, args.date)
        print(describe(summary, settings))
        return int(ExitCode.DELIVERY_INCOMPLETE if summary.incomplete else ExitCode.OK)
    if args.command == "preview":
        files = run_preview(settings, now, args.out or settings.previews, _warn, args.date)
        if files is None:
            print("no new articles: nothing to preview")
            return 0
        if files.warning:
            _warn(files.warning)
        print(files.html)
        return 0
    if args.command == "collect":
        articles = run_collect(settings, now, _warn)
        for a in articles:
            print(f"  [{a.section}] {a.title}  ({a.id})")
        print(f"{len(articles)} new article{'s' * (len(articles) != 1)} stored")
        return 0
    code = cli_lists.dispatch(args, settings, now)  # issue 6
    if code is not None:
        return code
    raise AssertionError(args.command)


def describe(summary: RunSummary, settings: Settings) -> str:
    """The one-line summary of a send."""
    if summary.edition_key is None:
        return summary.note
    head = f"edition {summary.edition_key} (#{summary.edition_number})"
    if summary.sent == summary.deferred == summary.failed == 0:
        return (
            f"{head}: nothing new to send: already delivered to all "
            f"{summary.already_sent} active subscribers"
        )
    counts = f"{summary.sent} sent"
    for label in ("deferred", "failed", "bounced", "in_doubt", "invalid"):
        if value := getattr(summary, label):
            counts += f", {value} {label.replace('_', ' ')}"
    if summary.already_sent:
        counts += f", {summary.already_sent} already had it"
    if settings.smtp_url is None:
        return (
            f"no SMTP server configured: {summary.sent} messages written to "
            f"{_short(settings.outbox)}/ (Maildir); {head}: {counts}"
        )
    return f"{head}: {counts} via {settings.smtp_url.split('@')[-1]}"


def _short(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


if __name__ == "__main__":
    sys.exit(main())

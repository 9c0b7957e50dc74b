"""The command line: parse arguments, run the job, turn errors into messages and exit codes.

A thin layer: everything it does is a call into ``pipeline``. Problems go to stderr (cron
mails them); a one-line summary goes to stdout.
"""

from __future__ import annotations

import argparse
import sys
import webbrowser
from datetime import UTC, date, datetime
from pathlib import Path

from .errors import ExitCode, NewsletterError
from .models import RunSummary
from .pipeline import run_collect, run_preview, run_send
from .publishing import run_archive, screenshot_preview
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
    preview.add_argument("--open", action="store_true", help="open the HTML in your web browser")
    preview.add_argument(
        "--screenshot",
        action="store_true",
        help="also write desktop (1200 px) and phone (375 px) PNGs next to it (needs chromium)",
    )

    commands.add_parser(
        "archive", help="rebuild the web archive (a page per edition, index, Atom feed)"
    )

    commands.add_parser("collect", help="store new articles from the sources and list them")
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
        return _preview_extras(args, files.html)
    if args.command == "archive":
        result = run_archive(settings)
        print(f"web archive rebuilt in {_short(result.folder)}/: {result.editions} editions")
        return 0
    if args.command == "collect":
        articles = run_collect(settings, now, _warn)
        for a in articles:
            print(f"  [{a.section}] {a.title}  ({a.id})")
        print(f"{len(articles)} new article{'s' * (len(articles) != 1)} stored")
        return 0
    raise AssertionError(args.command)


def _preview_extras(args: argparse.Namespace, html: Path) -> int:
    """``preview --screenshot`` and ``--open`` (design, #5)."""
    if args.screenshot:
        for shot in screenshot_preview(html):
            print(shot)
    if args.open and not webbrowser.open(html.resolve().as_uri()):
        _warn(f"no web browser could be started: open {html} yourself")
    return 0


def describe(summary: RunSummary, settings: Settings) -> str:
    """The one-line summary of a send."""
    if summary.edition_key is None:
        return summary.note
    head = f"edition {summary.edition_key} (#{summary.edition_number})"
    if summary.sent == summary.deferred == summary.failed == 0:
        line = (
            f"{head}: nothing new to send: already delivered to all "
            f"{summary.already_sent} active subscribers"
        )
        if summary.unmatched:
            line += f" ({summary.unmatched} not sent: none of their sections today)"
        return line
    counts = f"{summary.sent} sent"
    for label in ("deferred", "failed", "bounced", "in_doubt", "invalid"):
        if value := getattr(summary, label):
            counts += f", {value} {label.replace('_', ' ')}"
    if summary.already_sent:
        counts += f", {summary.already_sent} already had it"
    if summary.unmatched:
        counts += f", {summary.unmatched} not sent (none of their sections today)"
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

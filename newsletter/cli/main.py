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

from ..delivery.report import setup_logging
from ..errors import ExitCode, NewsletterError
from ..settings.config import Settings, load_settings
from . import lists as cli_lists

# Each command imports what it needs when it runs: a send never loads the HTTP, feed,
# browser or web stacks (memory: the delivery issue's budget is 80 MB for 1M subscribers).


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
    parser.add_argument(
        "--log-format", choices=("text", "json"), default="text",
        help="log lines as text (default) or JSON objects, one per line",
    )  # fmt: skip
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    send = commands.add_parser(
        "send", help="collect, compose the day's edition and deliver it to every subscriber"
    )
    send.add_argument("--date", type=_day, help="the edition's date, YYYY-MM-DD (default: today)")
    send.add_argument(
        "--retry-deferred", action="store_true",
        help="only retry the deliveries of that day's edition that were deferred or in doubt",
    )  # fmt: skip

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

    status = commands.add_parser("status", help="each edition's delivery counts")
    status.add_argument("--date", type=_day, help="only the edition of that day")
    status.add_argument(
        "--export", type=Path, metavar="FILE.csv",
        help="write one row per recipient (status, attempts, last reply) of the edition",
    )  # fmt: skip

    sources = commands.add_parser(
        "sources", help="list the sources with their health (last fetch, failures, errors)"
    )
    sources_commands = sources.add_subparsers(dest="sources_command", metavar="SUBCOMMAND")
    opml = sources_commands.add_parser(
        "import", help="add the feeds of an OPML file to 'sources' in the config file"
    )
    opml.add_argument("opml", type=Path, help="the OPML file (a feed reader's export)")
    cli_lists.add_parsers(commands)  # issue 6: subscribers, serve, dkim

    schedule = commands.add_parser(
        "schedule", help="print the next run times of the 'schedule' setting; start nothing"
    )
    schedule.add_argument("--count", type=_positive, default=5, help="how many (default 5)")
    schedule.add_argument(
        "--collect", action="store_true", help="the 'collect_schedule' setting's runs instead"
    )
    serve = commands.add_parser(
        "serve", help="run as a daemon: send on the 'schedule' setting, serve GET /healthz"
    )
    serve.add_argument("--listen", metavar="HOST:PORT", help="HTTP address (default: 'listen')")
    return parser


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    return int(text)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; return the exit code (also used by ``python -m newsletter``)."""
    args = build_parser().parse_args(argv)
    setup_logging(args.log_format)
    now = datetime.now(UTC)
    try:
        settings, _ = load_settings(args.config)
        if args.command == "sources":
            from . import sources as sourcescmd

            return sourcescmd.run(args, settings)
        return _dispatch(args, settings, now)
    except NewsletterError as exc:
        print(f"newsletter: error: {exc}", file=sys.stderr)
        return int(exc.exit_code)
    except KeyboardInterrupt:
        print("newsletter: interrupted", file=sys.stderr)
        return 130


def _dispatch(args: argparse.Namespace, settings: Settings, now: datetime) -> int:
    if args.command == "send":
        return _send(args, settings, now)
    if args.command == "preview":
        from ..edition.preview import run_preview

        files = run_preview(settings, now, args.out or settings.previews, args.date)
        if files is None:
            print("no new articles: nothing to preview")
            return 0
        if files.warning:
            print(f"newsletter: warning: {files.warning}", file=sys.stderr)
        print(files.html)
        return _preview_extras(args, files.html)
    if args.command == "archive":
        from ..edition.publish import run_archive

        result = run_archive(settings)
        print(f"web archive rebuilt in {_short(result.folder)}/: {result.editions} editions")
        return 0
    if args.command == "collect":
        from ..job import run_collect

        articles = run_collect(settings, now)
        for a in articles:
            print(f"  [{a.section}] {a.title}  ({a.id})")
        print(f"{len(articles)} new article{'s' * (len(articles) != 1)} stored")
        return 0
    if args.command in ("schedule", "serve"):
        from . import daemon as daemoncmd  # APScheduler, aiohttp: only for these two

    if args.command == "schedule":
        return daemoncmd.schedule_command(settings, now, args.count, args.collect)
    if args.command == "serve":
        clock = lambda: datetime.now(UTC)  # noqa: E731
        return daemoncmd.serve_command(settings, args.listen, clock, args.log_format == "json")
    if args.command == "status":
        from .status import export_outcomes, status_table

        if args.export:
            rows = export_outcomes(settings, args.date, args.export)
            print(f"{rows} recipients written to {args.export}")
        else:
            print(status_table(settings, args.date))
        return 0
    code = cli_lists.dispatch(args, settings, now)  # issue 6
    if code is not None:
        return code
    raise AssertionError(args.command)


def _send(args: argparse.Namespace, settings: Settings, now: datetime) -> int:
    from ..delivery.report import ProgressView, summary_json, summary_line
    from ..job import run_send

    json_logs = args.log_format == "json"
    with ProgressView(json_logs) as progress:
        summary = run_send(
            settings, now, lambda: datetime.now(UTC), args.date, progress, args.retry_deferred
        )
    if json_logs:
        print(summary_json(summary))
    else:
        outbox = None if settings.smtp_url else _short(settings.outbox)
        relay = settings.smtp_url.split("@")[-1] if settings.smtp_url else None
        print(summary_line(summary, outbox, relay))
    return int(ExitCode.DELIVERY_INCOMPLETE if summary.incomplete else ExitCode.OK)


def _preview_extras(args: argparse.Namespace, html: Path) -> int:
    """``preview --screenshot`` and ``--open`` (design, #5)."""
    if args.screenshot:
        from ..edition.publish import screenshot_preview

        for shot in screenshot_preview(html):
            print(shot)
    if args.open and not webbrowser.open(html.resolve().as_uri()):
        print(f"newsletter: no web browser could be started: open {html} yourself", file=sys.stderr)
    return 0


def _short(path: Path) -> Path:
    try:
        return path.relative_to(Path.cwd())
    except ValueError:
        return path


if __name__ == "__main__":
    sys.exit(main())

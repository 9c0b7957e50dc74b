"""``newsletter send``: the daily job, with progress and a one-line (or JSON) summary."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

from ..errors import ExitCode
from ..settings import Settings
from .arguments import day, short


def add_parsers(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    send = commands.add_parser(
        "send", help="collect, compose the day's edition and deliver it to every subscriber"
    )
    send.add_argument("--date", type=day, help="the edition's date, YYYY-MM-DD (default: today)")
    send.add_argument(
        "--retry-deferred", action="store_true",
        help="only retry the deliveries of that day's edition that were deferred or in doubt",
    )  # fmt: skip
    send.add_argument(
        "-v", "--verbose", action="store_true",
        help="also list every item the collection did not take (already seen, ...) and why",
    )  # fmt: skip


def run(args: argparse.Namespace, settings: Settings, now: datetime) -> int:
    from ..delivery.summary import summary_json, summary_line
    from ..job import run_send
    from ..settings.values import delivered_to
    from .collect import not_taken_lines
    from .output import ProgressView

    json_logs = args.log_format == "json"
    with ProgressView(json_logs) as progress:
        summary = run_send(
            settings, now, lambda: datetime.now(UTC), args.date, progress, args.retry_deferred
        )
    if args.verbose and not json_logs and not args.retry_deferred:  # a retry collects nothing
        print("\n".join(not_taken_lines(summary.not_taken)) or "  (every item was taken)")
    if json_logs:
        print(summary_json(summary))
    else:
        outbox, relay = delivered_to(settings)
        print(summary_line(summary, short(outbox) if outbox else None, relay))
    return int(ExitCode.DELIVERY_INCOMPLETE if summary.incomplete else ExitCode.OK)


HANDLERS = {"send": run}

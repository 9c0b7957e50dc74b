"""``newsletter schedule`` (the next run times) and ``newsletter serve`` (the daemon: the
schedule, the unsubscribe endpoint, /healthz)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Callable
from datetime import UTC, datetime, tzinfo

from ..errors import ConfigError
from ..settings import Settings, split_listen
from .arguments import positive

log = logging.getLogger("newsletter")


def add_parsers(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    schedule = commands.add_parser(
        "schedule", help="print the next run times of the 'schedule' setting; start nothing"
    )
    schedule.add_argument("--count", type=positive, default=5, help="how many (default 5)")
    schedule.add_argument(
        "--collect", action="store_true", help="the 'collect_schedule' setting's runs instead"
    )
    schedule.add_argument(
        "--from", dest="start", type=moment, metavar="YYYY-MM-DDTHH:MM",
        help="the runs at or after this time instead of now (in 'timezone' unless an offset "
        "is given, e.g. 2026-03-27T23:00 or 2026-03-27T23:00+01:00)",
    )  # fmt: skip
    serve = commands.add_parser(
        "serve", help="run as a daemon: send on the 'schedule' setting, serve GET /healthz"
    )
    serve.add_argument("--listen", metavar="HOST:PORT", help="HTTP address (default: 'listen')")


def moment(text: str) -> datetime:
    """``--from``: an ISO 8601 date and time, naive (read later in the ``timezone``
    setting) or with a UTC offset; a date alone is its midnight."""
    try:
        return datetime.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a date and time: use YYYY-MM-DDTHH:MM, in the 'timezone' "
            "setting, or with a UTC offset (2026-03-27T23:00+01:00)"
        ) from None


def run_schedule(args: argparse.Namespace, settings: Settings, now: datetime) -> int:
    start = now if args.start is None else in_zone(args.start, settings.zone)
    return schedule_command(settings, start, args.count, args.collect)


def in_zone(value: datetime, zone: tzinfo) -> datetime:
    """``value`` as an instant: a naive time is a wall-clock time in ``zone`` (its first
    occurrence when a fall back repeats it); an offset is kept."""
    return value if value.tzinfo is not None else value.replace(tzinfo=zone)


def run_serve(args: argparse.Namespace, settings: Settings, now: datetime) -> int:
    clock = lambda: datetime.now(UTC)  # noqa: E731
    return serve_command(settings, args.listen, clock, args.log_format == "json")


def schedule_command(settings: Settings, now: datetime, count: int, collect: bool) -> int:
    """Print the next ``count`` run times at or after ``now``, one per line, ISO 8601 in
    the ``timezone`` setting with the UTC offset.

    Raises:
        ConfigError: ``--collect`` without a ``collect_schedule`` setting.
    """
    expression = settings.collect_schedule if collect else settings.schedule
    if expression is None:
        raise ConfigError(
            "no collect_schedule is set: collection happens with each send",
            "set collect_schedule (a crontab expression) in newsletter.toml",
        )
    from ..settings.cron import next_runs, parse_schedule

    trigger = parse_schedule(expression, settings.zone)
    for moment in next_runs(trigger, now, count):
        print(moment.isoformat())
    return 0


def serve_command(
    settings: Settings, listen: str | None, clock: Callable[[], datetime], json_logs: bool
) -> int:
    """Run the daemon until SIGTERM/SIGINT; return its exit code.

    Raises:
        ConfigError: ``--listen`` is not HOST:PORT, or the address cannot be bound.
    """
    try:
        host, port = split_listen(listen) if listen else settings.listen_address
    except ValueError as exc:
        raise ConfigError(f"--listen: {exc}", "write --listen 127.0.0.1:8080") from None
    # A daemon reports every run: the run lines are INFO (cron's `send` stays quiet).
    logging.getLogger("newsletter").setLevel(logging.INFO)
    from ..daemon.review import add_review_routes  # a proof's approve/hold links
    from ..daemon.scheduler import Daemon  # APScheduler and aiohttp: only for serve
    from ..daemon.web import make_app  # the unsubscribe endpoint, on the daemon's loop

    if not settings.public_url:
        log.warning("public_url is not set: messages carry only the mailto: unsubscribe link")
    print(f"serving unsubscribe links on http://{host}:{port}/unsubscribe/ and GET /healthz")
    sys.stdout.flush()
    try:
        app = make_app(settings, clock)
        add_review_routes(app, settings, clock)
        return asyncio.run(Daemon(settings, clock).run(host, port, app))
    except OSError as exc:
        raise ConfigError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}",
            "choose a free address with --listen or the 'listen' setting",
        ) from None


HANDLERS = {"schedule": run_schedule, "serve": run_serve}

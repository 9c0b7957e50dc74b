"""``newsletter subscribers ...``: add, remove, unsubscribe, list, count, check and import.

Every change goes through ``subscribers.changes``: under the run lock, with who left
remembered in the database.
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from pathlib import Path

from ..errors import ExitCode, InputError
from ..models import Subscriber, SubscriberStatus
from ..settings import Settings
from ..settings.values import list_files
from ..subscribers import changes
from ..subscribers.csvfile import BadRow, normalise_address
from ..subscribers.edits import find_subscriber
from ..subscribers.imports import FORMATS


def add_parsers(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    subs = commands.add_parser("subscribers", help="manage the subscriber list (the CSV)")
    sub = subs.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = sub.add_parser("add", help="add an address (or update its name and fields)")
    add.add_argument("email")
    add.add_argument("--name", default="", help="the subscriber's name")
    add.add_argument(
        "--field", action="append", default=[], metavar="K=V", help="a merge field; repeatable"
    )
    add.add_argument(
        "--resubscribe", action="store_true", help="make an unsubscribed address active again"
    )
    sub.add_parser("remove", help="delete an address's row").add_argument("email")
    sub.add_parser("unsubscribe", help="unsubscribe an address now").add_argument("email")
    lst = sub.add_parser("list", help="print the subscribers: email, name, status")
    lst.add_argument("--status", choices=[s.value for s in SubscriberStatus])
    sub.add_parser("count", help="count subscribers by status")
    sub.add_parser("check", help="validate the list; print each bad row; exit 2 if any")
    imp = sub.add_parser("import", help="merge an export (Mailchimp, Ghost, listmonk, ...)")
    imp.add_argument("file", type=Path)
    imp.add_argument("--format", choices=FORMATS, help="the export's tool (default: detected)")


def _say(message: str) -> None:
    print(f"newsletter: {message}", file=sys.stderr)


def _address(raw: str) -> str:
    try:
        return normalise_address(raw)
    except ValueError as exc:
        raise InputError(f"invalid address {raw!r}: {exc}") from None


def run(args: argparse.Namespace, settings: Settings, now: datetime) -> int:
    action, path, files = args.action, settings.subscribers, list_files(settings)
    if action == "add":
        fields = dict(_pair(f) for f in args.field)
        email = _address(args.email)
        done = changes.add(files, email, args.name, fields, args.resubscribe, now)
        print(f"{done} {email}")
    elif action == "remove":
        email = args.email.strip()
        if not changes.remove(files, email, now):
            raise InputError(f"{path}: {email} is not on the list; nothing changed")
        print(f"removed {email}")
    elif action == "unsubscribe":
        print(_unsubscribe(settings, _address(args.email), now))
    elif action in ("list", "check"):
        return _list(settings, args.status if action == "list" else None, action == "check")
    elif action == "count":
        by_status, bad = changes.counts(files)
        text = ", ".join(f"{n} {status}" for status, n in by_status.items())
        print(text + (f", {bad} invalid rows (see 'subscribers check')" if bad else ""))
    elif action == "import":
        export, report = changes.import_export(files, args.file, args.format, now)
        for line in report.rejected:
            _say(f"rejected: {line}")
        print(
            f"{args.file} ({export.format}, {export.encoding}, {export.delimiter!r}): "
            f"{report.added} added, {report.updated} updated, {report.unchanged} unchanged, "
            f"{report.duplicates} duplicates merged, {len(report.rejected)} rejected"
        )
    return 0


def _pair(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise InputError(f"--field {text!r}: write it as NAME=VALUE")
    return key.strip(), value


def _unsubscribe(settings: Settings, email: str, now: datetime) -> str:
    row = find_subscriber(settings.subscribers, email)
    done = changes.unsubscribe(list_files(settings), email, "command line", now)
    if row is None:
        return f"{email} is not on the list; recorded, so no import adds it"
    email = row.email  # as the list spells it
    if row.status is SubscriberStatus.UNSUBSCRIBED:
        return f"{email} was already unsubscribed"
    if not done.applied:
        return (
            f"unsubscribed {email}: the running send skips it from now on and writes it "
            "into the list when it ends"
        )
    return f"unsubscribed {email}"


def _list(settings: Settings, status: str | None, check: bool) -> int:
    good = bad = 0
    for row in changes.rows(list_files(settings)):
        if isinstance(row, BadRow):
            bad += 1
            if check:
                _say(str(row))
        elif isinstance(row, Subscriber):
            good += 1
            if not check and (status is None or row.status.value == status):
                print(f"{row.email}\t{row.name}\t{row.status.value}")
    if check:
        print(f"{settings.subscribers}: {good} subscribers, {bad} bad rows")
        return int(ExitCode.USAGE) if bad else 0
    return 0


HANDLERS = {"subscribers": run}

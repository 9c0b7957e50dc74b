"""``newsletter subscribers ...``: add, remove, unsubscribe, list, count, check and import.

Every change goes through ``subscribers.changes``: under the run lock, with who left
remembered in the database.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from itertools import islice
from pathlib import Path
from typing import TypeVar

from ..errors import ExitCode, InputError
from ..models import Subscriber, SubscriberStatus
from ..settings import Settings
from ..settings.values import list_files
from ..store.consents import Consent, Consents
from ..store.database import Store
from ..subscribers import changes
from ..subscribers.consent import contradiction
from ..subscribers.csvfile import BadRow, normalise_address
from ..subscribers.edits import Added, find_subscriber
from ..subscribers.imports import FORMATS
from .cells import count_of, spreadsheet_safe

T = TypeVar("T")


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
    lst.add_argument(
        "--consent", action="store_true",
        help="add a column: when and from which IP address a sign-up was confirmed",
    )  # fmt: skip
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


def _text(value: str, option: str) -> str:
    """A command-line value; bytes that are not UTF-8 (surrogates) are refused."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InputError(f"{option}: not UTF-8 text", "pass it in UTF-8") from None
    return value


def run(args: argparse.Namespace, settings: Settings, now: datetime) -> int:
    action, path, files = args.action, settings.subscribers, list_files(settings)
    if action == "add":
        fields = dict(_pair(f) for f in args.field)
        email = _address(args.email)
        name = _text(args.name, "--name")
        print(_added(email, changes.add(files, email, name, fields, args.resubscribe, now)))
    elif action == "remove":
        row = changes.remove(files, args.email.strip(), now)
        if row is None:
            raise InputError(f"{path}: {args.email.strip()} is not on the list; nothing changed")
        print(_removed(row))
    elif action == "unsubscribe":
        print(_unsubscribe(settings, _address(args.email), now))
    elif action == "list":
        _list(settings, args.status, args.consent)
    elif action == "check":
        return _check(settings)
    elif action == "count":
        print(_count(changes.counts(files)))
    elif action == "import":
        export, report = changes.import_export(files, args.file, args.format, now)
        for line in report.rejected:
            _say(f"rejected: {line}")
        print(
            f"{args.file} ({export.format}, {export.encoding}, {export.delimiter!r}): "
            f"{report.added} added, {report.updated} updated, {report.unchanged} unchanged, "
            f"{count_of(report.duplicates, 'duplicate')} merged, {len(report.rejected)} rejected"
        )
    return 0


def _added(typed: str, done: Added) -> str:
    """What ``add`` did, naming the address as the list spells it (addresses match in any
    case: when the user typed another spelling, both are shown)."""
    if done.outcome == "unchanged":
        spelling = "" if done.email == typed else f" as {done.email}"
        return f"{typed} is already on the list{spelling}; nothing changed"
    email = done.email if done.email == typed else f"{typed} (on the list as {done.email})"
    changed = f": {', '.join(done.columns)}" if done.outcome == "updated" else ""
    return f"{done.outcome} {email}{changed}"


def _removed(row: Mapping[str, str]) -> str:
    status = row.get("status", "").strip().lower()
    if status in (SubscriberStatus.UNSUBSCRIBED.value, SubscriberStatus.BOUNCED.value):
        return (
            f"removed {row['email'].strip()}; it stays {status} in the database: "
            "adding it again needs --resubscribe"
        )
    return f"removed {row['email'].strip()}"


def _pair(text: str) -> tuple[str, str]:
    key, sep, value = _text(text, "--field").partition("=")
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


def _list(settings: Settings, status: str | None, consent: bool = False) -> None:
    """``email<TAB>name<TAB>status``, the status a send acts on: an active row whose
    address left (recorded in the database) is listed with the recorded status. With
    ``consent``, a fourth column: ``confirmed <time> from <IP> (<how>)`` for an address
    that signed up through the form, else empty."""
    listed = (
        (row, left)
        for row, left in changes.rows(list_files(settings))
        if isinstance(row, Subscriber)
    )
    for batch in batched(listed, 500):
        found = consents(settings, [row.email for row, _ in batch]) if consent else {}
        for row, left in batch:
            shown = left.status if left is not None else row.status.value
            if status is not None and shown != status:
                continue
            cells = [row.email, row.name, shown]
            if consent:
                given = found.get(row.email.lower())
                cells.append(
                    f"confirmed {given.confirmed_at} from {given.ip} ({given.source})"
                    if given
                    else ""
                )
            print("\t".join(str(spreadsheet_safe(v)) for v in cells))


def batched(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """``items`` in lists of ``size`` (itertools.batched is Python 3.12's)."""
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


def consents(settings: Settings, emails: list[str]) -> dict[str, Consent]:
    """The recorded sign-up consents of these addresses (none without a database)."""
    if not settings.database.exists():
        return {}
    with Store(settings.database) as store:
        return Consents(store).lookup(emails)


def _check(settings: Settings) -> int:
    """Every bad row and every active row whose address left, as ``file:line: reason``
    on stderr; exit 2 when any (an unsubscribe recorded during a running send is only
    noted: that send writes it into the list when it ends)."""
    good = bad = contradicted = 0
    for row, left in changes.rows(list_files(settings)):
        if isinstance(row, BadRow):
            bad += 1
            _say(str(row))
            continue
        good += 1
        if left is not None:
            _say(str(contradiction(settings.subscribers, row, left)))
            contradicted += left.applied
    summary = f"{settings.subscribers}: {count_of(good, 'subscriber')}, {count_of(bad, 'bad row')}"
    if contradicted:
        summary += f", {count_of(contradicted, 'row')} active although they left"
    print(summary)
    return int(ExitCode.USAGE) if bad or contradicted else 0


def _count(counts: changes.Counts) -> str:
    text = ", ".join(f"{n} {status}" for status, n in counts.by_status.items())
    if counts.contradicted:
        text += (
            f" ({count_of(counts.contradicted, 'row')} of these still active in the list:"
            " see 'subscribers check')"
        )
    if counts.bad:
        text += f", {count_of(counts.bad, 'invalid row')} (see 'subscribers check')"
    return text


HANDLERS = {"subscribers": run}

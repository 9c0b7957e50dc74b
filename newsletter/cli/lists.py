"""The command line of issue 6: ``subscribers ...``, ``serve`` and ``dkim keygen``.

Kept apart from cli.py (which adds these parsers and dispatches here) so each stays small.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from ..errors import ExitCode, InputError
from ..mail.dkimkeys import keygen
from ..models import Subscriber, SubscriberStatus
from ..settings.config import Settings
from ..subscribers import changes as membership
from ..subscribers.csvfile import BadRow, find_subscriber, normalise_address
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

    dkim = commands.add_parser("dkim", help="DKIM signing keys")
    dsub = dkim.add_subparsers(dest="action", required=True, metavar="ACTION")
    gen = dsub.add_parser("keygen", help="create a private key; print the DNS record")
    gen.add_argument("--selector", default=None, help="default: the dkim_selector setting")
    gen.add_argument("--domain", default=None, help="default: dkim_domain or the From domain")
    gen.add_argument("--type", choices=["rsa", "ed25519"], default="rsa", dest="kind")
    gen.add_argument("--out", type=Path, help="key file (default: dkim/<selector>.pem)")


def dispatch(args: argparse.Namespace, settings: Settings, now: datetime) -> int | None:
    """Run an issue-6 command; None when ``args.command`` is not one of them."""
    handler = _HANDLERS.get(args.command)
    return None if handler is None else handler(args, settings, now)


def _say(message: str) -> None:
    print(f"newsletter: {message}", file=sys.stderr)


def _address(raw: str) -> str:
    try:
        return normalise_address(raw)
    except ValueError as exc:
        raise InputError(f"invalid address {raw!r}: {exc}") from None


def _subscribers(args: argparse.Namespace, settings: Settings, now: datetime) -> int:
    action, path = args.action, settings.subscribers
    if action == "add":
        fields = dict(_pair(f) for f in args.field)
        email = _address(args.email)
        done = membership.add(settings, email, args.name, fields, args.resubscribe, now)
        print(f"{done} {email}")
    elif action == "remove":
        email = args.email.strip()
        if not membership.remove(settings, email, now):
            raise InputError(f"{path}: {email} is not on the list; nothing changed")
        print(f"removed {email}")
    elif action == "unsubscribe":
        print(_unsubscribe(settings, _address(args.email), now))
    elif action in ("list", "check"):
        return _list(settings, args.status if action == "list" else None, action == "check")
    elif action == "count":
        by_status, bad = membership.counts(settings)
        text = ", ".join(f"{n} {status}" for status, n in by_status.items())
        print(text + (f", {bad} invalid rows (see 'subscribers check')" if bad else ""))
    elif action == "import":
        export, report = membership.import_export(settings, args.file, args.format, now)
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
    done = membership.unsubscribe(settings, email, "command line", now)
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
    for row in membership.rows(settings):
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


def _dkim(args: argparse.Namespace, settings: Settings, now: datetime) -> int:
    selector = args.selector or settings.dkim_selector or f"nl{now:%Y%m}"
    domain = args.domain or settings.dkim_domain or settings.from_domain
    out = args.out or Path("dkim") / f"{selector}.pem"
    record = keygen(out, args.kind, selector, domain)
    print(record)
    _say(
        f"private key written to {out} (mode 0600). Publish the TXT record above, then set "
        f'dkim_private_key = "{out}" and dkim_selector = "{selector}"'
    )
    return 0


_HANDLERS: dict[str, Callable[[argparse.Namespace, Settings, datetime], int]] = {
    "subscribers": _subscribers,
    "dkim": _dkim,
}

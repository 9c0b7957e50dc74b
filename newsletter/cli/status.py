"""``newsletter status``: what each edition's ledger says, and the per-recipient report."""

from __future__ import annotations

import argparse
import csv
import os
from datetime import date, datetime
from pathlib import Path

from ..errors import InputError
from ..settings import Settings
from ..store.bounces import COMPLAINT, HARD, SOFT, BounceReports
from ..store.database import Store, StoredEdition
from .arguments import day
from .cells import count_of, spreadsheet_safe

# The ledger's statuses; "pending" at rest is a message handed over without an answer.
COLUMNS = {"sent": "sent", "deferred": "deferred", "failed": "failed", "pending": "in_doubt"}
EXPORT_HEADER = (
    "email", "status", "attempts", "last_code", "last_text", "message_id", "created_at",
    "updated_at", "report",
)  # fmt: skip
# Above this share of complaints per delivered message a warning is shown: Gmail's bulk
# sender guidelines ask to stay below 0.3 % and aim for under 0.1 %.
COMPLAINT_WARNING = 0.001


def add_parsers(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    status = commands.add_parser("status", help="each edition's delivery counts")
    status.add_argument("--date", type=day, help="only the edition of that day")
    status.add_argument(
        "--export", type=Path, metavar="FILE.csv",
        help="write one row per recipient (status, attempts, last reply) of the edition",
    )  # fmt: skip


def run(args: argparse.Namespace, settings: Settings, now: datetime) -> int:
    if args.export:
        rows = export_outcomes(settings, args.date, args.export)
        print(f"{count_of(rows, 'recipient')} written to {args.export}")
    else:
        print(status_table(settings, args.date))
    return 0


def status_table(settings: Settings, day: date | None) -> str:
    """A plain table of editions, newest first, with their delivery counts."""
    if not settings.database.exists():
        return "no editions yet"
    with Store(settings.database) as store:
        editions = [(e, c) for e, c in store.editions() if day is None or e.day == day]
        reports = BounceReports(store).counts()
        under = {  # the lines under each edition's row
            e.id: review_lines(settings, store, e, c) + report_lines(reports.get(e.id, {}), c)
            for e, c in editions
        }
    if not editions:
        return f"no edition for {day}" if day else "no editions yet"
    header = "  ".join(f"{c:>8}" for c in COLUMNS.values())
    lines = [f"{'date':<10}  {'#':>4}  {header}  subject"]
    for edition, counts in editions:
        cells = "  ".join(f"{counts.get(c, 0):>8}" for c in COLUMNS)
        lines.append(f"{edition.day}  {edition.number:>4}  {cells}  {edition.subject}")
        lines += under[edition.id]
    return "\n".join(lines)


def review_lines(
    settings: Settings, store: Store, edition: StoredEdition, counts: dict[str, int]
) -> list[str]:
    """Under an edition: its proofs (to whom, when, how it went), its decisions (approved
    or held, by which command or link, when, why) and, with an approval gate, whether the
    list may get it (judged on the version as frozen: a send renders it again first)."""
    from ..edition.approval import NONE, describe, fingerprint, verdict
    from ..settings.values import identity
    from ..store.reviews import Reviews

    reviews = Reviews(store)
    lines = [
        f"    proof to {p.email} at {_when(p.sent_at)}: {p.outcome}"
        for p in reviews.proofs(edition.id)
    ]
    decisions = reviews.decisions(edition.id)
    lines += [f"    {describe(d)}" + (f": {d.reason}" if d.reason else "") for d in decisions]
    if settings.approval != NONE and not counts.get("sent"):
        version = fingerprint(edition.article_ids, edition.fingerprint, identity(settings))
        gate = verdict(settings.approval, edition.day, decisions, version)
        lines.append(f"    {'may be sent' if gate.may_send else gate.reason}")
    return lines


def report_lines(reports: dict[str, int], counts: dict[str, int]) -> list[str]:
    """Under an edition: the bounces and complaints the bounce mailbox brought back about
    it, the complaint rate (complaints per message sent), and a warning above 0.1 %."""
    if not reports:
        return []
    complaints, sent = reports.get(COMPLAINT, 0), counts.get("sent", 0)
    rate = complaints / sent if sent else 0.0
    line = (
        f"    reports: {reports.get(HARD, 0)} hard bounced, {reports.get(SOFT, 0)} soft bounced,"
        f" {count_of(complaints, 'complaint')} (complaint rate {rate:.2%})"
    )
    if rate <= COMPLAINT_WARNING:
        return [line]
    return [
        line,
        f"    warning: a complaint rate of {rate:.2%} is above 0.1 %: Gmail and Yahoo filter or "
        "refuse bulk senders above 0.3 %; check who is on the list and how they joined",
    ]


def _when(stamp: str) -> str:
    return stamp.replace("T", " ").removesuffix("+00:00")[:16] + " UTC"


def export_outcomes(settings: Settings, day: date | None, out: Path) -> int:
    """Write one CSV row per recipient of the edition of ``day`` (default: the latest).

    The file is for people (a spreadsheet): a cell that would start a formula (a relay's
    reply text is the relay's to choose) is prefixed with a quote (``spreadsheet_safe``),
    and it is created owner-only, as it lists subscribers' addresses.
    Raises:
        InputError: there is no such edition, or the file cannot be written.
    """
    if not settings.database.exists():
        raise InputError("no editions yet: nothing to export")
    with Store(settings.database) as store:
        editions = [e for e, _ in store.editions() if day is None or e.day == day]
        if not editions:
            if day is None:
                raise InputError("no editions yet: nothing to export")
            raise InputError(f"no edition for {day}", "see `newsletter status`")
        try:
            fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with open(fd, "w", encoding="utf-8", newline="") as handle:
                writer = csv.writer(handle)
                writer.writerow(EXPORT_HEADER)
                count = 0
                reports = BounceReports(store).of_edition(editions[0].id)
                for email, status, *rest in store.deliveries(editions[0].id):
                    report = reports.get(str(email).lower(), "")
                    cells = (email, COLUMNS.get(str(status), status), *rest, report)
                    writer.writerow([spreadsheet_safe(cell) for cell in cells])
                    count += 1
        except OSError as exc:
            raise InputError(f"{out}: cannot write the report: {exc.strerror}") from None
    return count


HANDLERS = {"status": run}

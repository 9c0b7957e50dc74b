"""``newsletter approve`` and ``newsletter hold``: editors decide about the day's edition
(the ``approval`` setting), as the approve/hold links of a proof do."""

from __future__ import annotations

import argparse
import getpass
from datetime import date, datetime

from ..settings import Settings
from .arguments import day


def add_parsers(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    approve = commands.add_parser(
        "approve", help="approve the day's edition: the list may get it (approval setting)"
    )
    hold = commands.add_parser(
        "hold", help="hold the day's edition: the list gets nothing until it is approved"
    )
    for parser in (approve, hold):
        parser.add_argument(
            "--date", type=day, help="the edition's date, YYYY-MM-DD (default: today)"
        )
        parser.add_argument(
            "--override", action="store_true",
            help="replace the decision already recorded about this version of the edition",
        )  # fmt: skip
    hold.add_argument("--reason", default="", metavar="TEXT", help="why, for the other editors")


def run_approve(args: argparse.Namespace, settings: Settings, now: datetime) -> int:
    from ..edition.approval import APPROVED

    return decide_command(settings, args.date, APPROVED, "", args.override, now)


def run_hold(args: argparse.Namespace, settings: Settings, now: datetime) -> int:
    from ..edition.approval import HELD

    reason = " ".join(args.reason.split())  # one line: it is shown in status and on /healthz
    return decide_command(settings, args.date, HELD, reason, args.override, now)


def decide_command(
    settings: Settings, when: date | None, decision: str, reason: str, override: bool,
    now: datetime,
) -> int:  # fmt: skip
    """Record the decision about the edition of ``when`` (default: today in ``timezone``)
    as it would be sent now (rendered with the current templates and settings).

    Raises:
        InputError: no such edition, already sent, or the other decision came first.
    """
    from ..edition.approval import APPROVED, decide, describe, edition_to_review
    from ..edition.freeze import current_plan
    from ..settings.values import edition_fingerprint, edition_inputs
    from ..store.database import Store
    from ..store.reviews import Reviews

    the_day = when or now.astimezone(settings.zone).date()
    with Store(settings.database) as store:
        stored = edition_to_review(store, the_day)
        version = edition_fingerprint(
            settings, current_plan(edition_inputs(settings), store, stored)
        )
        proofs = [p for p in Reviews(store).proofs(stored.id) if p.outcome == "sent"]
        by = ("command", _user())
        recorded, new = decide(store, stored, version, decision, by, reason, now, override)
    head = f"edition {the_day} (#{stored.number})"
    if not new:
        print(f"{head} was already {describe(recorded)}; nothing changed")
        return 0
    if decision == APPROVED:
        print(f"{head} approved: the list gets it at the next send")
    else:
        release = f"newsletter approve --date {the_day} --override"
        print(f"{head} held: the list gets nothing until `{release}`")
    if proofs and proofs[-1].fingerprint != version:
        print(
            f"note: the edition changed since the last proof ({proofs[-1].sent_at}): this "
            "decision is about the current version; `newsletter send --proof` shows it"
        )
    if settings.approval == "none":
        print("note: the approval setting is 'none': sends do not wait for a decision")
    return 0


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no name for the uid (a container)
        return "unknown"


HANDLERS = {"approve": run_approve, "hold": run_hold}

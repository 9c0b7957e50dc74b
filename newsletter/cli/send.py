"""``newsletter send``: the daily job, with progress and a one-line (or JSON) summary."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime

from ..errors import ConfigError, ExitCode
from ..models import RunSummary
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
        "--proof", nargs="*", metavar="ADDRESS",
        help="send the editors (these addresses, else the proof_to setting) a proof of the "
        "edition, marked as such, and nobody on the list",
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
    editors = proof_addresses(args, settings)
    with ProgressView(json_logs) as progress:
        summary = run_send(
            settings, now, lambda: datetime.now(UTC), args.date, progress, args.retry_deferred,
            editors,
        )  # fmt: skip
    if editors:
        return proof_report(summary, json_logs)
    if args.verbose and not json_logs and not args.retry_deferred:  # a retry collects nothing
        print("\n".join(not_taken_lines(summary.not_taken)) or "  (every item was taken)")
    if json_logs:
        print(summary_json(summary))
    else:
        outbox, relay = delivered_to(settings)
        print(summary_line(summary, short(outbox) if outbox else None, relay))
    return int(ExitCode.DELIVERY_INCOMPLETE if summary.incomplete else ExitCode.OK)


def proof_addresses(args: argparse.Namespace, settings: Settings) -> tuple[str, ...]:
    """The editors ``--proof`` sends to: those given, else ``proof_to``; () without it.

    Raises:
        ConfigError: ``--proof`` with no address and no ``proof_to``, an address that is
            not one, or ``--retry-deferred`` (a proof is not a retry).
    """
    if args.proof is None:
        return ()
    from ..settings.checks import SettingError, mailbox

    if args.retry_deferred:
        raise ConfigError("--proof and --retry-deferred do not go together", "use one of them")
    addresses = args.proof or settings.proof_to
    if not addresses:
        raise ConfigError(
            "--proof: no address given and the proof_to setting is empty",
            "name the editors (newsletter send --proof ed@example.org) or set proof_to",
        )
    try:
        return tuple(mailbox(address, with_name=False) for address in addresses)
    except SettingError as exc:
        raise ConfigError(f"--proof: {exc}", exc.hint) from None


def proof_report(summary: RunSummary, json_logs: bool) -> int:
    """Print what became of each proof; exit 1 when one was not sent."""
    from ..delivery.proofs import SENT, said

    if json_logs:
        print(json.dumps({"proofs": summary.proofs, "edition": str(summary.edition_key)}))
    elif summary.edition_key is None:
        print(summary.note)
    else:
        head = f"proof of edition {summary.edition_key} (#{summary.edition_number})"
        print(f"{head}: {said(summary.proofs)}; nothing was sent to the list")
    missed = any(outcome != SENT for outcome in summary.proofs.values())
    return int(ExitCode.DELIVERY_INCOMPLETE if missed else ExitCode.OK)


HANDLERS = {"send": run}

"""Consent: the database's record of who left wins over what the CSV says.

An unsubscribe or bounce is recorded in the database (store.suppressions) before anything
else, and an address can come back to the CSV by many paths: ``subscribers add``, an
import, a row put back by hand or a backup restored. Every path checks the record:
``refuse_if_left`` for the commands, ``with_records`` for what reads the list (``check``,
``list``, ``count``; a send does the same per batch in delivery.sender). Only
``subscribers add --resubscribe`` (their renewed consent) lifts a record.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

from ..errors import InputError
from ..models import Subscriber, SubscriberStatus
from ..store.suppressions import Left, Suppressions
from .csvfile import BadRow

BATCH = 500  # addresses looked up per query
RESUBSCRIBE_HINT = "use --resubscribe only when they asked to receive the newsletter again"
Read = Subscriber | BadRow


def refuse_if_left(table: Suppressions, email: str, database: Path) -> None:
    """Raise unless the address may be added (it never left, or came back).

    Raises:
        InputError: it unsubscribed or bounced (exit 2), naming the database that records
            it; the hint names ``--resubscribe``.
    """
    left = table.record_of(email)
    if left is not None:
        raise InputError(f"{database}: {email} {describe(left)}; not changed", RESUBSCRIBE_HINT)


def describe(left: Left) -> str:
    """``unsubscribed on 2026-11-27 (command line)``."""
    return f"{left.status} on {left.day} ({left.source})"


def with_records(
    rows: Iterable[Read], table: Suppressions | None
) -> Iterator[tuple[Read, Left | None]]:
    """Each row with the record of an active row's address (None when it never left), in
    file order; one query per ``BATCH`` rows, at constant memory."""
    batch: list[Read] = []
    for row in rows:
        batch.append(row)
        if len(batch) == BATCH:
            yield from _looked_up(batch, table)
            batch = []
    yield from _looked_up(batch, table)


def _looked_up(batch: list[Read], table: Suppressions | None) -> Iterator[tuple[Read, Left | None]]:
    active = [r.email for r in batch if isinstance(r, Subscriber) and _active(r)]
    records = table.lookup(active) if table is not None and active else {}
    for row in batch:
        left = records.get(row.email.lower()) if isinstance(row, Subscriber) else None
        yield row, left if left is not None and _active(row) else None


def _active(row: Read) -> bool:
    return isinstance(row, Subscriber) and row.status is SubscriberStatus.ACTIVE


def contradiction(path: Path, row: Subscriber, left: Left) -> BadRow:
    """The ``check`` line for an active row whose address left: ``file:line: reason``."""
    where = f"{path}:{row.line}"
    if not left.applied:  # recorded while a send held the lock: written when it ends
        reason = f"{row.email} {describe(left)}; the list is updated when the running send ends"
    else:
        reason = (
            f"{row.email} is active here but {describe(left)}: a send skips it "
            "(set the row's status, or 'subscribers add --resubscribe' if they asked to be back)"
        )
    return BadRow(where, reason, row.line)

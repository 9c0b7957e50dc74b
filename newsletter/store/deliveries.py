"""What the delivery ledger says: counts, statuses, rows, the journal's moves included.

The read side of the ledger, as methods of ``Store`` (a mixin over its connection); the
write side is ``ledger``.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ..models import DeliveryStatus
from .ledger import journal_path, unrecorded


@dataclass(frozen=True, slots=True)
class RetryState:
    """An unfinished delivery an earlier run left: its status, first try, last reply."""

    status: str
    created: datetime
    code: int | None
    text: str | None


class DeliveryReads:
    """The ledger's read queries; ``Store`` provides ``db`` and ``path``."""

    db: sqlite3.Connection
    path: Path

    def delivery_counts(self, edition_id: int) -> dict[str, int]:
        """The edition's deliveries by status, the journal's moves not yet committed
        included (a running send's last ones, or what a failed run could not commit)."""
        rows = self.db.execute(
            "SELECT status, COUNT(*) FROM deliveries WHERE edition_id = ? GROUP BY status",
            (edition_id,),
        )
        counts = {status: count for status, count in rows}
        moves = {email: row.status for email, row in unrecorded(self._journal, edition_id)}
        if moves:
            for status in self.statuses(edition_id, list(moves)).values():
                counts[status] = counts.get(status, 0) - 1
            for status in moves.values():
                counts[status] = counts.get(status, 0) + 1
        return {status: count for status, count in counts.items() if count > 0}

    def statuses(self, edition_id: int, emails: Sequence[str]) -> dict[str, str]:
        """The ledger status of each of these addresses that has a row."""
        rows = self.db.execute(
            "SELECT email, status FROM deliveries WHERE edition_id = ?"
            " AND email IN (SELECT value FROM json_each(?))",
            (edition_id, json.dumps(list(emails))),
        )
        return dict(rows.fetchall())

    def retry_states(self, edition_id: int, emails: Sequence[str]) -> dict[str, RetryState]:
        """The deferred or in-doubt (``pending``) deliveries among these addresses."""
        rows = self.db.execute(
            "SELECT email, status, created_at, last_code, last_text FROM deliveries"
            " WHERE edition_id = ? AND status IN ('deferred', 'pending')"
            " AND email IN (SELECT value FROM json_each(?))",
            (edition_id, json.dumps(list(emails))),
        )
        return {
            email: RetryState(status, datetime.fromisoformat(created), code, text)
            for email, status, created, code, text in rows
        }

    def sent_since(self, since: float) -> list[float]:
        """POSIX times of the messages sent since ``since`` (for rolling rate windows).

        A scan of the ledger, on purpose without an index (an index would cost every
        commit of every send); it runs once per run, and only with a windowed rate limit.
        """
        start = datetime.fromtimestamp(since, UTC).isoformat(timespec="seconds")
        rows = self.db.execute(
            "SELECT updated_at FROM deliveries WHERE status = 'sent' AND updated_at >= ?"
            " ORDER BY updated_at",
            (start,),
        )
        return [datetime.fromisoformat(row[0]).timestamp() for row in rows]

    def deliveries(self, edition_id: int) -> Iterator[tuple[object, ...]]:
        """Every delivery row of an edition, for the outcome report, with the journal's
        moves not yet committed applied (as ``delivery_counts``)."""
        moves = dict(unrecorded(self._journal, edition_id))
        for row in self.db.execute(
            "SELECT email, status, attempts, last_code, last_text, message_id, created_at,"
            " updated_at FROM deliveries WHERE edition_id = ? ORDER BY created_at, email",
            (edition_id,),
        ):
            move = moves.pop(row[0], None)
            if move is None:
                yield row
            else:
                code = move.code if move.code is not None else row[3]
                text, message_id = move.text or row[4], row[5] or move.message_id
                yield (row[0], move.status, row[2] + move.attempts, code, text, message_id,
                       row[6], move.updated)  # fmt: skip
        for email, m in moves.items():
            yield (email, m.status, m.attempts, m.code, m.text, m.message_id, m.created, m.updated)

    @property
    def _journal(self) -> Path:
        return journal_path(self.path)

    def in_doubt(self, edition_id: int) -> int:
        """Messages an earlier run handed to the relay without recording the answer."""
        row = self.db.execute(
            "SELECT COUNT(*) FROM deliveries WHERE edition_id = ? AND status = ?",
            (edition_id, DeliveryStatus.PENDING.value),
        ).fetchone()
        return int(row[0])

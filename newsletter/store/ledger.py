"""The delivery ledger's write path, a journal in front of SQLite.

A SQLite commit costs ~70-100 µs here, and a send needs two ledger moves per message
(about to be handed over; answered) — at 1,500 messages/s that alone would eat a third
of a core. So each move is first appended to a journal file (one ``write()``, ~3 µs; it
survives a killed process because it is in the kernel's page cache at once), and the
moves reach SQLite in group commits (every few hundred moves or 200 ms). After the
commit the journal is emptied.

If the process dies, the next run replays the journal into SQLite before anything else
(``recover``): answers the relay gave are kept (nobody accepted is sent twice), and a
message begun without an answer stays ``pending`` — in doubt, exactly the messages that
were in flight at the instant of the crash.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ..models import Outcome

FLUSH_MOVES = 512
FLUSH_SECONDS = 0.2

_UPSERT = (
    "INSERT INTO deliveries (edition_id, email, status, attempts, last_code, last_text,"
    " message_id, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT(edition_id, email) DO UPDATE SET status = excluded.status,"
    " attempts = attempts + excluded.attempts,"
    " last_code = COALESCE(excluded.last_code, last_code),"
    " last_text = COALESCE(excluded.last_text, last_text),"
    " message_id = COALESCE(excluded.message_id, message_id),"
    " updated_at = excluded.updated_at"
)


@dataclass(slots=True)
class _Row:
    """One address's moves since the last group commit."""

    status: str
    attempts: int
    code: int | None
    text: str | None
    message_id: str | None
    created: str
    updated: str


def _ts(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def _clean(text: str) -> str:
    return text.replace("\t", " ").replace("\n", " ").replace("\r", " ")[:500]


class Ledger:
    """Records ``begin``/``finish`` moves for deliveries; call ``close`` at the end."""

    def __init__(self, db: sqlite3.Connection, journal: Path) -> None:
        self.db = db
        self.journal = journal
        self._fd = os.open(journal, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._rows: dict[tuple[int, str], _Row] = {}
        self._moves = 0
        self._last_flush: float | None = None
        self._second, self._stamp = -1, ""  # the last timestamp text, reused within its second

    def begin(self, edition_id: int, email: str, message_id: str, now: datetime) -> None:
        """The message is about to be handed over (a later run counts it in doubt)."""
        stamp = self._text(now)
        os.write(self._fd, f"B\t{edition_id}\t{email}\t{message_id}\t{stamp}\n".encode())
        self._apply(edition_id, email, "pending", 1, None, None, message_id, stamp)

    def finish(self, edition_id: int, email: str, outcome: Outcome, now: datetime) -> None:
        """The relay answered (or the message could not be handed over)."""
        stamp, text = self._text(now), _clean(outcome.text)
        code = "" if outcome.code is None else str(outcome.code)
        line = f"F\t{edition_id}\t{email}\t{outcome.status.value}\t{code}\t{text}\t{stamp}\n"
        os.write(self._fd, line.encode())
        self._apply(edition_id, email, outcome.status.value, 0, outcome.code, text, None, stamp)
        if self._moves >= FLUSH_MOVES or self._due(now):
            self.flush(now)

    def _text(self, now: datetime) -> str:
        # Timestamps have whole seconds; formatting one costs more than the rest of a move.
        second = int(now.timestamp())
        if second != self._second:
            self._second, self._stamp = second, _ts(now)
        return self._stamp

    def _apply(
        self, edition_id: int, email: str, status: str, attempts: int, code: int | None,
        text: str | None, message_id: str | None, stamp: str,
    ) -> None:  # fmt: skip
        key = (edition_id, email)
        row = self._rows.get(key)
        if row is None:
            self._rows[key] = _Row(status, attempts, code, text, message_id, stamp, stamp)
        else:
            row.status, row.attempts, row.updated = status, row.attempts + attempts, stamp
            row.code = code if code is not None else row.code
            row.text = text if text is not None else row.text
            row.message_id = message_id or row.message_id
        self._moves += 1

    def _due(self, now: datetime) -> bool:
        moment = now.timestamp()
        if self._last_flush is None:
            self._last_flush = moment
        return moment - self._last_flush >= FLUSH_SECONDS

    def flush(self, now: datetime | None = None) -> None:
        """Group-commit the moves to SQLite, then empty the journal."""
        if self._rows:
            write(self.db, self._rows)
            self._rows = {}
        self._moves = 0
        os.ftruncate(self._fd, 0)  # only after the commit: a crash in between replays
        self._last_flush = now.timestamp() if now else None

    def close(self) -> None:
        self.flush()
        os.close(self._fd)


def write(db: sqlite3.Connection, rows: dict[tuple[int, str], _Row]) -> None:
    """Upsert accumulated rows in one transaction."""
    db.execute("BEGIN IMMEDIATE")
    try:
        db.executemany(
            _UPSERT,
            (
                (e, email, r.status, r.attempts, r.code, r.text, r.message_id, r.created,
                 r.updated)
                for (e, email), r in rows.items()
            ),
        )  # fmt: skip
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def journal_path(database: Path) -> Path:
    """The ledger's journal file: ``<database>.journal`` beside the database."""
    return database.with_name(database.name + ".journal")


def recover(db: sqlite3.Connection, journal: Path) -> int:
    """Replay a journal a killed run left behind into SQLite; return the moves replayed.

    Idempotent apart from attempt counts: if the earlier run died between its commit and
    emptying the journal, those attempts are counted twice (harmless, and rare).
    """
    try:
        data = journal.read_bytes()
    except FileNotFoundError:
        return 0
    rows: dict[tuple[int, str], _Row] = {}
    moves = 0
    for line in data.decode(errors="replace").splitlines():
        parts = line.split("\t")
        if parts[0] == "B" and len(parts) == 5:
            key, row = (int(parts[1]), parts[2]), rows.get((int(parts[1]), parts[2]))
            if row is None:
                rows[key] = _Row("pending", 1, None, None, parts[3], parts[4], parts[4])
            else:
                row.status, row.attempts, row.updated = "pending", row.attempts + 1, parts[4]
        elif parts[0] == "F" and len(parts) == 7:
            key = (int(parts[1]), parts[2])
            code = int(parts[4]) if parts[4] else None
            row = rows.setdefault(key, _Row(parts[3], 0, code, parts[5], None, parts[6], parts[6]))
            row.status, row.code, row.text, row.updated = parts[3], code, parts[5], parts[6]
        else:
            continue  # a torn last line from the crash: that move never completed
        moves += 1
    if rows:
        write(db, rows)
    journal.write_bytes(b"")
    return moves

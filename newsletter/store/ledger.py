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

When a write fails (a full disk, a read-only file, an I/O error), the ledger stops the
run cleanly instead of losing moves: ``begin`` refuses every message from then on, while
``finish`` still records the answers of the messages already handed over — in memory, and
in the journal, for which a small reserve file (``<database>.reserve``, held during the
send) is given back to the filesystem the moment a write fails. What SQLite could not
take stays in the journal, and the next run records it first.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ..errors import StoreError
from ..models import Outcome
from .failures import store_error
from .lock import owner_only

FLUSH_MOVES = 512
FLUSH_SECONDS = 0.2
# Space given back when a write fails: room for the answers of the messages in flight
# (two journal lines of ~150 bytes each per connection) many times over.
RESERVE_BYTES = 64 * 1024

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
# A journal line, whole: a line torn by a crash or a full disk never matches (its time
# stamp, the last field, is cut short or missing).
_STAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00"
_BEGIN = re.compile(rf"B\t(\d+)\t([^\t]+)\t([^\t]*)\t({_STAMP})")
_FINISH = re.compile(
    rf"F\t(\d+)\t([^\t]+)\t(pending|sent|deferred|failed)\t(\d*)\t([^\t]*)\t({_STAMP})"
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


Rows = dict[tuple[int, str], _Row]


def _ts(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def _clean(text: str) -> str:
    return text.replace("\t", " ").replace("\n", " ").replace("\r", " ")[:500]


class Ledger:
    """Records ``begin``/``finish`` moves for deliveries; call ``close`` at the end."""

    def __init__(self, db: sqlite3.Connection, journal: Path) -> None:
        """Open the journal and take the reserve.

        Raises:
            StoreError: the journal or the reserve cannot be written (a full disk, a
                read-only folder); nothing was recorded.
        """
        self.db = db
        self.journal = journal
        self.database = journal.with_name(journal.name.removesuffix(".journal"))
        self.reserve = reserve_path(self.database)
        self.failure: StoreError | None = None  # the first failed write; no begin after it
        self._torn = False  # the journal ends inside a line a failed write left
        try:
            self._fd = os.open(journal, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        except OSError as exc:
            raise self._error(exc) from exc
        try:
            owner_only(self._fd)
            _hold_reserve(self.reserve)
        except OSError as exc:
            os.close(self._fd)
            raise self._error(exc) from exc
        self._rows: Rows = {}
        self._moves = 0
        self._last_flush: float | None = None
        self._second, self._stamp = -1, ""  # the last timestamp text, reused within its second

    def begin(self, edition_id: int, email: str, message_id: str, now: datetime) -> None:
        """The message is about to be handed over (a later run counts it in doubt).

        Raises:
            StoreError: a write failed, now or earlier: the message must not be handed over.
        """
        if self.failure is not None:
            raise self.failure
        stamp = self._text(now)
        self._append(f"B\t{edition_id}\t{email}\t{message_id}\t{stamp}\n".encode())
        self._apply(edition_id, email, "pending", 1, None, None, message_id, stamp)

    def finish(self, edition_id: int, email: str, outcome: Outcome, now: datetime) -> None:
        """The relay answered (or the message could not be handed over).

        Never raises for a failed write: the move is kept in memory (and in the journal
        when it could be written there) and the failure noted, so ``begin`` refuses from
        then on; after a failure every answer is committed at once, where possible.
        """
        stamp, text = self._text(now), _clean(outcome.text)
        code = "" if outcome.code is None else str(outcome.code)
        line = f"F\t{edition_id}\t{email}\t{outcome.status.value}\t{code}\t{text}\t{stamp}\n"
        with contextlib.suppress(StoreError):  # noted in self.failure
            self._append(line.encode())
        self._apply(edition_id, email, outcome.status.value, 0, outcome.code, text, None, stamp)
        if self.failure is not None or self._moves >= FLUSH_MOVES or self._due(now):
            try:
                self.flush(now)
            except Exception as exc:  # any failure stops the run, cleanly
                self._note(exc)

    def _append(self, line: bytes) -> None:
        """Write one move to the journal, whole.

        A failed or short write notes the failure, gives the reserve back and writes the
        line again (after a line break if a piece of it went in).

        Raises:
            StoreError: the line could not be written whole even then.
        """
        data = b"\n" + line if self._torn else line
        try:
            written = os.write(self._fd, data)
        except OSError as exc:
            written, error = 0, exc
        else:
            if written == len(data):
                self._torn = False
                return
            error = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))  # a short write: full
        self._note(error)
        _release(self.reserve)
        retry = b"\n" + line if (written or self._torn) else line
        try:
            if os.write(self._fd, retry) == len(retry):
                self._torn = False
                return
        except OSError:
            pass
        self._torn = True
        assert self.failure is not None
        raise self.failure

    def _note(self, exc: BaseException) -> None:
        if self.failure is None:
            self.failure = self._error(exc)

    def _error(self, exc: BaseException) -> StoreError:
        if isinstance(exc, StoreError):
            return exc
        error = store_error(self.database, exc)
        if error is None:  # not one of the known causes: say what it was all the same
            reason = f"{type(exc).__name__}: {exc}"
            message = f"{self.database}: cannot write the database: {reason}"
            error = StoreError(message, None, reason)
        return error

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
        """Group-commit the moves to SQLite, then empty the journal.

        Raises:
            StoreError (or the database's own error): nothing was committed; the moves stay
                in memory and in the journal.
        """
        if self._rows:
            write(self.db, self._rows)
            self._rows = {}
        self._moves = 0
        os.ftruncate(self._fd, 0)  # only after the commit: a crash in between replays
        self._torn = False
        self._last_flush = now.timestamp() if now else None

    def close(self) -> None:
        """Commit what is left, close the journal and give the reserve back.

        Raises:
            StoreError: moves could not be committed; the journal keeps what it could take
                and the next run records it first.
        """
        try:
            self.flush()
        except Exception as exc:  # reported as the StoreError below
            self._note(exc)
            assert self.failure is not None
            raise self.failure from None
        finally:
            os.close(self._fd)
            _release(self.reserve)


def write(db: sqlite3.Connection, rows: Rows) -> None:
    """Upsert accumulated rows in one transaction.

    Raises:
        StoreError (or the database's own error): the transaction was rolled back.
    """
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
        db.execute("COMMIT")
    except BaseException:
        # SQLite may have rolled back already (a full disk does): then ROLLBACK would fail.
        if db.in_transaction:
            with contextlib.suppress(Exception):
                db.execute("ROLLBACK")
        raise


def journal_path(database: Path) -> Path:
    """The ledger's journal file: ``<database>.journal`` beside the database."""
    return database.with_name(database.name + ".journal")


def reserve_path(database: Path) -> Path:
    """The space a send holds for the answers of its last messages: ``<database>.reserve``."""
    return database.with_name(database.name + ".reserve")


def _hold_reserve(path: Path) -> None:
    """Write the reserve file (random bytes: no filesystem can compress them away).

    Raises:
        OSError: it cannot be written: the disk is already full, or the folder read-only.
    """
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        data = memoryview(os.urandom(RESERVE_BYTES))
        while data:
            data = data[os.write(fd, data) :]
    except OSError:
        _release(path)
        raise
    finally:
        os.close(fd)


def _release(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink()


def journal_moves(journal: Path) -> tuple[Rows, int]:
    """The moves a journal holds, merged per address, and how many lines they came from.

    Lines a crash or a full disk tore are skipped: that move never completed.
    """
    try:
        data = journal.read_bytes()
    except FileNotFoundError:
        return {}, 0
    rows: Rows = {}
    moves = 0
    for line in data.decode(errors="replace").splitlines():
        if begin := _BEGIN.fullmatch(line):
            edition, email, message_id, stamp = begin.groups()
            key = (int(edition), email)
            row = rows.get(key)
            if row is None:
                rows[key] = _Row("pending", 1, None, None, message_id, stamp, stamp)
            else:
                row.status, row.attempts, row.updated = "pending", row.attempts + 1, stamp
        elif finish := _FINISH.fullmatch(line):
            edition, email, status, code_text, text, stamp = finish.groups()
            code = int(code_text) if code_text else None
            row = rows.setdefault(
                (int(edition), email), _Row(status, 0, code, text, None, stamp, stamp)
            )
            row.status, row.code, row.text, row.updated = status, code, text, stamp
        else:
            continue
        moves += 1
    return rows, moves


def recover(db: sqlite3.Connection, journal: Path) -> int:
    """Replay a journal a killed or failed run left behind into SQLite; return the moves
    replayed.

    Idempotent apart from attempt counts: if the earlier run died between its commit and
    emptying the journal, those attempts are counted twice (harmless, and rare).

    Raises:
        StoreError: the database cannot be written (the journal is kept for the next run).
    """
    rows, moves = journal_moves(journal)
    if rows:
        write(db, rows)
    if journal.exists() and journal.stat().st_size:
        try:
            journal.write_bytes(b"")
        except OSError as exc:
            database = journal.with_name(journal.name.removesuffix(".journal"))
            raise store_error(database, exc) or exc from exc
    return moves


def unrecorded(journal: Path, edition_id: int) -> Iterator[tuple[str, _Row]]:
    """(address, merged moves) of one edition that the journal holds and SQLite may not
    yet: what a running send has not committed yet, or a failed run could not."""
    rows, _ = journal_moves(journal)
    for (edition, email), row in rows.items():
        if edition == edition_id:
            yield email, row

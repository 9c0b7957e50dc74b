"""Run ``newsletter`` with one fault injected, for the tests of how a send stops.

    python tests/faultinject.py POINT AFTER ARGS...

POINT is where the fault strikes, AFTER how many times that point works first:

- ``worker``: a connection's ``send`` raises RuntimeError on the message after AFTER
  (the ledger has already recorded the hand-over: the message is in doubt);
- ``journal``: the ledger's journal ``write()`` fails with ENOSPC from the move after
  AFTER on, as on a full disk;
- ``commit``: SQLite's COMMIT of a ledger write raises sqlite3.OperationalError from the
  ledger commit after AFTER on (a disk I/O error);
- ``stream``: the subscriber stream raises after AFTER batches of 500.

Everything else is the real program: the real SQLite file, the real relay or outbox.
"""

from __future__ import annotations

import errno
import itertools
import os
import sqlite3
import sys
from typing import Any

from newsletter.cli.main import main
from newsletter.delivery import outbox, relay
from newsletter.store import database, ledger


def worker(after: int) -> None:
    calls = itertools.count(1)
    for cls in (relay._SmtpConnection, outbox._MaildirConnection):
        original = cls.send

        async def send(self: Any, job: Any, original: Any = original) -> Any:
            if next(calls) == after + 1:
                raise RuntimeError("injected fault")
            return await original(self, job)

        cls.send = send  # type: ignore[method-assign]


class _JournalFull:
    """The ``os`` module as the ledger sees it, with journal writes failing."""

    def __init__(self, after: int) -> None:
        self.after, self.moves = after, 0

    def __getattr__(self, name: str) -> Any:
        return getattr(os, name)

    def write(self, fd: int, data: bytes) -> int:
        if os.readlink(f"/proc/self/fd/{fd}").endswith(".journal"):
            self.moves += 1
            if self.moves > self.after:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return os.write(fd, data)


def journal(after: int) -> None:
    ledger.os = _JournalFull(after)  # type: ignore[assignment]


def commit(after: int) -> None:
    from newsletter.store import dbfile

    original_many, original = dbfile.Connection.executemany, dbfile.Connection.execute
    commits = itertools.count(1)
    state = {"ledger": False}

    def executemany(self: Any, sql: str, parameters: Any, /) -> Any:
        state["ledger"] = sql.startswith("INSERT INTO deliveries")
        return original_many(self, sql, parameters)

    def execute(self: Any, sql: str, parameters: Any = (), /) -> Any:
        if sql == "BEGIN IMMEDIATE":
            state["ledger"] = False
        elif sql == "COMMIT" and state["ledger"] and next(commits) > after:
            raise sqlite3.OperationalError("disk I/O error (injected)")
        return original(self, sql, parameters)

    dbfile.Connection.executemany = executemany  # type: ignore[method-assign]
    dbfile.Connection.execute = execute  # type: ignore[method-assign]


def stream(after: int) -> None:
    original = database.Store.statuses
    calls = itertools.count(1)

    def statuses(self: Any, edition_id: int, emails: Any) -> Any:
        if next(calls) > after:
            raise RuntimeError("injected fault in the subscriber stream")
        return original(self, edition_id, emails)

    database.Store.statuses = statuses  # type: ignore[method-assign]


if __name__ == "__main__":
    point, count, *args = sys.argv[1:]
    {"worker": worker, "journal": journal, "commit": commit, "stream": stream}[point](int(count))
    sys.exit(main(args))

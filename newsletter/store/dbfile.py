"""The database file: created owner-only, checked for loose modes, never silently replaced
by a new one, and opened on a connection whose failures a user can fix name the file.

The file holds every subscriber address and the generated unsubscribe key: it is created
owner-only (0600) whatever the umask (SQLite gives its -wal and -shm files the database's
mode), and a database others can read is warned about once per process.

A missing or empty database beside files only earlier runs leave (the ledger's journal, a
lock file another process took) is refused: a new database would send every edition
again, under a new unsubscribe key.
"""

from __future__ import annotations

import logging
import os
import shlex
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .failures import store_error
from .ledger import journal_path
from .lock import OWNER_ONLY, left_by_earlier_run, lock_path

log = logging.getLogger("newsletter")
_warned: set[Path] = set()  # databases whose loose mode was reported (once per process)


class Connection(sqlite3.Connection):
    """A sqlite3 connection whose statements raise ``StoreError`` (naming the file) when
    they fail because of the file, its folder or the disk; other errors are unchanged."""

    path: Path

    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:
        try:
            return super().execute(sql, parameters)
        except sqlite3.OperationalError as exc:
            raise store_error(self.path, exc) or exc from exc

    def executemany(self, sql: str, parameters: Any, /) -> sqlite3.Cursor:
        try:
            return super().executemany(sql, parameters)
        except sqlite3.OperationalError as exc:
            raise store_error(self.path, exc) or exc from exc


def create_owner_only(path: Path) -> bool:
    """Create an empty database file, owner-only (0600) whatever the umask, unless it
    exists; return whether it was created. SQLite then gives its -wal and -shm files the
    same mode.

    Raises:
        OSError: the folder or the file cannot be created.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, OWNER_ONLY)
    except FileExistsError:
        return False
    try:
        os.fchmod(fd, OWNER_ONLY)  # a umask such as 0277 would leave the owner unable to write
    finally:
        os.close(fd)
    return True


def connect(path: Path) -> Connection:
    try:
        db = sqlite3.connect(path, isolation_level=None, timeout=30, factory=Connection)
    except sqlite3.OperationalError as exc:  # cannot open it
        raise store_error(path, exc) or exc from exc
    db.path = path
    return db


def warn_if_shared(path: Path) -> None:
    """Warn (once per process) when others may read the database: it holds every
    subscriber address and the generated unsubscribe key."""
    try:
        mode = path.stat().st_mode & 0o777
    except OSError:
        return
    if mode & 0o077 and path not in _warned:
        _warned.add(path)
        log.warning(
            "%s is readable by other users (mode %04o) and holds every subscriber address "
            "and the unsubscribe key: run chmod 600 %s*", path, mode, shlex.quote(str(path)),
        )  # fmt: skip


def traces_beside(database: Path) -> list[Path]:
    """Files beside the database that only an earlier run with it leaves: the ledger's
    journal, and the lock file as another process left it."""
    found = [p for p in (journal_path(database),) if p.exists()]
    if left_by_earlier_run(lock_path(database)):
        found.append(lock_path(database))
    return found


def is_blank(database: Path) -> bool:
    """Whether the database file is missing or empty (``: > newsletter.db``), with no
    write-ahead log that would hold its pages."""
    try:
        if database.stat().st_size:
            return False
    except FileNotFoundError:
        pass
    wal = database.with_name(database.name + "-wal")
    return not (wal.exists() and wal.stat().st_size)


def refuse_lost_history(database: Path, traces: Sequence[Path], state: str | None = None) -> None:
    """Refuse to start a new database where earlier runs left ``traces``: a new one would
    mail every edition again, under a new unsubscribe key (earlier links stop working).

    ``state`` says how the database is new ("has no edition"); by default it is new when
    the file is missing or empty, and there is nothing to refuse otherwise.

    Raises:
        ConfigError: there are traces and the database is new; the hint says how to start
            over on purpose.
    """
    if not traces:
        return
    if state is None:
        if not is_blank(database):
            return
        state = "is empty" if database.exists() else "is missing"
    names = ", ".join(shlex.quote(str(p)) for p in traces)
    show = "shows" if len(traces) == 1 else "show"
    raise ConfigError(
        f"{database} {state}, but {names} {show} earlier runs: a new database would send "
        "every edition again, under a new unsubscribe key",
        f"restore {database} from a backup; to start over on purpose, move {names} away "
        "(while no newsletter run is going on) and run the command again",
    )

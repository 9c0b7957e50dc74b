"""What a failed write of the database (or of a file beside it) means to the person running
newsletter: the cause in words and what to do, as a ``StoreError`` naming the file.

The causes a user can fix are the file, its folder and the disk: read-only, full, an I/O
error, a lock held by another program. SQLite reports them by result code (``sqlite3.h``:
SQLITE_READONLY, SQLITE_FULL, ...; Python 3.11+ exposes it as ``sqlite_errorcode``), the
journal and the lock file by ``errno``. Anything else is a bug and is left to surface.
"""

from __future__ import annotations

import errno
import os
import sqlite3
from pathlib import Path

from ..errors import StoreError

# SQLite's primary result codes (the low byte of an extended code), sqlite3.h.
_PERM, _BUSY, _LOCKED, _READONLY, _IOERR, _FULL, _CANTOPEN = 3, 5, 6, 8, 10, 13, 14
_SQLITE_REASONS = {
    _FULL: os.strerror(errno.ENOSPC),  # "database or disk is full", said as the OS says it
    _READONLY: "it is read-only",
    _PERM: "it is read-only",
    _CANTOPEN: "cannot open it or create its -wal and -shm files",
    _IOERR: "disk I/O error",
    _BUSY: "another program holds a lock on it",
    _LOCKED: "another program holds a lock on it",
}
_NO_SPACE = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})
_READ_ONLY = frozenset({errno.EROFS, errno.EACCES, errno.EPERM})


def store_error(
    database: Path, exc: BaseException, what: str = "the database"
) -> StoreError | None:
    """The user-facing error for a failed write of ``database`` (or of ``what``, a file beside
    it), or None when ``exc`` is not about the file, its folder or the disk.

    ``exc`` is a ``sqlite3.Error`` or an ``OSError``. The message reads
    ``<file>: cannot write <what>: <reason>``; ``reason`` is kept on the error for summaries.
    """
    if isinstance(exc, sqlite3.Error):
        code = (getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF
        if code not in _SQLITE_REASONS:
            return None
        reason, kind = _SQLITE_REASONS[code], _sqlite_kind(code)
        target = database
    elif isinstance(exc, OSError):
        reason = exc.strerror or str(exc)
        kind = _os_kind(exc.errno)
        target = Path(exc.filename) if exc.filename else database
    else:
        return None
    return StoreError(f"{target}: cannot write {what}: {reason}", _hint(database, kind), reason)


def _sqlite_kind(code: int) -> str:
    if code == _FULL:
        return "space"
    if code in (_READONLY, _PERM, _CANTOPEN):
        return "read-only"
    if code in (_BUSY, _LOCKED):
        return "busy"
    return "disk"


def _os_kind(number: int | None) -> str:
    if number in _NO_SPACE:
        return "space"
    if number in _READ_ONLY:
        return "read-only"
    return "disk"


def _hint(database: Path, kind: str) -> str:
    folder = database.parent
    if kind == "space":
        return f"free space on the filesystem holding {folder}/, then run the command again"
    if kind == "read-only":
        return (
            f"the user running newsletter must be able to write {database.name} and its "
            f"folder {folder}/ (SQLite creates {database.name}-wal and -shm beside it; the "
            "journal and lock files live there too); check the filesystem is not mounted "
            "read-only"
        )
    if kind == "busy":
        return (
            "close the program that holds a transaction on it (an sqlite3 shell?), then run "
            "the command again"
        )
    return f"check the disk holding {folder}/ (see dmesg), then run the command again"

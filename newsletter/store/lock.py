"""At most one run at a time, with an OS file lock beside the database.

The lock serialises every writer of the database and of the subscriber CSV: a send, a
collection, an archive rebuild, a list change.

The lock dies with its process (kill -9 included), so there is never a stale lock to
clean up; the lock file itself is never deleted (deleting it would let two runs lock two
different files).
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import LockedError


def lock_path(database: Path) -> Path:
    """The lock file of the run that uses ``database``: ``<database>.lock`` beside it."""
    return database.with_name(database.name + ".lock")


@contextmanager
def run_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` for the duration of the block.

    Raises:
        LockedError: another process holds the lock (it is not waited for).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "another process"
            raise LockedError(
                f"another newsletter run (pid {holder}) holds {path}; nothing was done",
                "wait for it to finish; the lock is released when that process exits",
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)

"""At most one run at a time, with an OS file lock beside the database.

The lock serialises every writer of the database and of the subscriber CSV: a send, a
collection, an archive rebuild, a list change.

The lock dies with its process (kill -9 included), so there is never a stale lock to
clean up; the lock file itself is never deleted (deleting it would let two runs lock two
different files). It holds the pid of the run that last took it, owner-only (0600).
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import LockedError
from .failures import store_error

OWNER_ONLY = 0o600
# Lock files this process took over from an earlier run (path -> that run's pid): the
# trace of that run, which taking the lock overwrote (``left_by_earlier_run``).
_taken_over: dict[Path, str] = {}


def lock_path(database: Path) -> Path:
    """The lock file of the run that uses ``database``: ``<database>.lock`` beside it."""
    return database.with_name(database.name + ".lock")


@contextmanager
def run_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` for the duration of the block.

    Raises:
        LockedError: another process holds the lock (it is not waited for).
        StoreError: the lock file cannot be created or written (read-only folder, full disk).
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, OWNER_ONLY)
    except OSError as exc:
        raise _error(path, exc) from exc
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "another process"
            raise LockedError(
                f"another newsletter run (pid {holder}) holds {path}; nothing was done",
                "wait for it to finish; the lock is released when that process exits",
            ) from None
        try:
            earlier = os.pread(fd, 64, 0).decode(errors="replace").strip()
            if earlier and earlier != str(os.getpid()):
                _taken_over[path] = earlier
            owner_only(fd)
            os.ftruncate(fd, 0)
            os.pwrite(fd, str(os.getpid()).encode(), 0)
        except OSError as exc:
            raise _error(path, exc) from exc
        yield
    finally:
        os.close(fd)


def owner_only(fd: int) -> None:
    """Make an open file owner-only (0600) if it is not: the umask may have let others in
    when it was created, or an older version made it 0644."""
    if os.fstat(fd).st_mode & 0o077:
        os.fchmod(fd, OWNER_ONLY)


def left_by_earlier_run(path: Path) -> bool:
    """Whether the lock file shows that another process took it and is gone: a process
    still alive is at work (creating its database right now, maybe); when this process
    holds it, whether it took it over from another one.

    Reads the pid only: probing the lock itself could make a run starting at that very
    moment find it held.
    """
    try:
        holder = path.read_text(errors="replace").strip()
    except OSError:
        return False
    if holder == str(os.getpid()):
        return path in _taken_over
    if not holder.isdigit():
        return False
    try:
        os.kill(int(holder), 0)
    except ProcessLookupError:
        return True
    except OSError:  # alive, under another user
        return False
    return False


def _error(path: Path, exc: OSError) -> Exception:
    database = path.with_name(path.name.removesuffix(".lock"))
    error = store_error(database, exc, "the lock file")
    return error if error is not None else exc

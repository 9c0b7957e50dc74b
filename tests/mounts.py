"""Small real filesystems for the tests: a tmpfs to fill up, a file or folder made
read-only by a read-only bind mount (root bypasses file modes, a read-only mount it
cannot). Mounting needs root (or CAP_SYS_ADMIN); without it the test is skipped and says
why. Everything mounted is unmounted at the end (``mounted``)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


class Mounts:
    """Mounts made for one test; ``unmount_all`` undoes them, newest first."""

    def __init__(self) -> None:
        self.points: list[Path] = []

    def _mount(self, *args: str) -> None:
        run = subprocess.run(["mount", *args], capture_output=True, text=True)
        if run.returncode:
            pytest.skip(f"mount is not permitted here ({run.stderr.strip()}): run as root")

    def tmpfs(self, where: Path, size: str = "2m") -> Path:
        """A tmpfs of ``size`` at ``where`` (created)."""
        where.mkdir(parents=True, exist_ok=True)
        self._mount("-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where))
        self.points.append(where)
        return where

    def read_only(self, path: Path) -> None:
        """Make the file or folder ``path`` read-only, for root too (a read-only bind)."""
        self._mount("--bind", str(path), str(path))
        self.points.append(path)
        self._mount("-o", "remount,bind,ro", str(path))

    def unmount(self, path: Path) -> None:
        self.points.remove(path)
        _umount(path)

    def unmount_all(self) -> None:
        while self.points:
            _umount(self.points.pop())


def _umount(path: Path) -> None:
    if subprocess.run(["umount", str(path)], capture_output=True).returncode:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)  # still busy


def fill(folder: Path, leave: int) -> Path:
    """Fill the filesystem of ``folder`` until about ``leave`` bytes are free; return the
    filler file (delete it to free the space again)."""
    stat = os.statvfs(folder)
    free = stat.f_bavail * stat.f_frsize
    filler = folder / "filler"
    with filler.open("wb") as handle:
        handle.write(b"\0" * max(0, free - leave))
    return filler


@contextmanager
def mounted() -> Iterator[Mounts]:
    """Mounts for one test, all undone at the end (a test file's ``mounts`` fixture)."""
    made = Mounts()
    try:
        yield made
    finally:
        made.unmount_all()

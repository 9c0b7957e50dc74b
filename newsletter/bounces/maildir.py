"""The bounce mailbox as a Maildir folder (the ``Mailbox`` interface of ``mailbox``)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from ..errors import MailboxError
from .mailbox import MAX_BYTES, Waiting


class MaildirReader:
    """A Maildir folder (``new/``, ``cur/``, ``tmp/``), read and moved with plain renames:
    the spec's delivery agents never touch ``cur/`` and renames are atomic."""

    def __init__(self, path: Path, max_bytes: int = MAX_BYTES) -> None:
        self.path, self.max_bytes = path, max_bytes
        if not (path / "new").is_dir() or not (path / "cur").is_dir():
            raise MailboxError(
                f"{path}: not a Maildir (no new/ and cur/ folders)",
                "set bounce_mailbox to the Maildir the bounce address is delivered into",
            )

    def messages(self) -> Iterator[Waiting]:
        for sub in ("new", "cur"):
            try:
                names = sorted(os.listdir(self.path / sub))
            except OSError as exc:
                raise MailboxError(f"{self.path / sub}: cannot read: {exc.strerror}") from None
            for name in names:
                if name.startswith(".") or (sub == "cur" and "S" in _flags(name)):
                    continue
                waiting = self._read(self.path / sub / name)
                if waiting is not None:
                    yield waiting

    def _read(self, file: Path) -> Waiting | None:
        try:
            with file.open("rb") as handle:
                size = os.fstat(handle.fileno()).st_size
                data = handle.read(self.max_bytes + 1)
        except (FileNotFoundError, IsADirectoryError):  # taken by another reader meanwhile
            return None
        except OSError as exc:
            raise MailboxError(f"{file}: cannot read: {exc.strerror}") from None
        truncated = len(data) > self.max_bytes
        name = f"{file.parent.name}/{file.name}"
        return Waiting(name, data[: self.max_bytes], size, truncated, file)

    def done(self, message: Waiting) -> None:
        """Move to ``cur/`` with the seen flag (``name:2,<flags>S``, flags sorted)."""
        file = message.key
        assert isinstance(file, Path)
        base, _, info = file.name.partition(":2,")
        flags = "".join(sorted(set(info) | {"S"}))
        try:
            os.rename(file, self.path / "cur" / f"{base}:2,{flags}")
        except OSError as exc:
            raise MailboxError(f"{file}: cannot move it to cur/: {exc.strerror}") from None

    def close(self) -> None:
        return None


def _flags(name: str) -> str:
    return name.partition(":2,")[2]

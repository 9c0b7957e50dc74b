"""The bounce mailbox as a Maildir folder (the ``Mailbox`` interface of ``mailbox``)."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

from ..errors import ConfigError, MailboxError
from .mailbox import MAX_BYTES, Waiting


class MaildirReader:
    """A Maildir folder (``new/``, ``cur/``, ``tmp/``), read and moved with plain renames:
    the spec's delivery agents never touch ``cur/`` and renames are atomic."""

    def __init__(self, path: Path, max_bytes: int = MAX_BYTES) -> None:
        self.path, self.max_bytes = path, max_bytes
        for sub in ("new", "cur"):
            _check_folder(path, sub)

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


def _check_folder(path: Path, sub: str) -> None:
    """``path/sub`` is a folder we may list.

    Raises:
        ConfigError: it is missing or not a folder: ``bounce_mailbox`` names something
            that is not a Maildir (a mistyped path: exit 2).
        MailboxError: it is there but cannot be read (permissions: exit 1).
    """
    try:
        is_folder = stat.S_ISDIR(os.stat(path / sub).st_mode)
    except (FileNotFoundError, NotADirectoryError):
        is_folder = False
    except OSError as exc:
        raise MailboxError(f"{path / sub}: cannot read: {exc.strerror}") from None
    if not is_folder:
        raise ConfigError(
            f"bounce_mailbox = {str(path)!r}: not a Maildir (no new/ and cur/ folders)",
            "set bounce_mailbox to the Maildir the bounce address is delivered into",
        )

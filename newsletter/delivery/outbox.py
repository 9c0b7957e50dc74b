"""The local Maildir outbox: the transport when no SMTP relay is configured."""

from __future__ import annotations

import contextlib
import mailbox
import os
from pathlib import Path

from ..errors import ConfigError
from ..models import DeliveryStatus, Job, Outcome
from .sendloop import Connection


class MaildirTransport:
    """Writes each message as a file into a Maildir folder (the default without SMTP).

    The messages hold subscribers' addresses and their unsubscribe links: the folders are
    created owner-only (0700, as ``mailbox`` makes them) and each message is made 0600,
    whatever the umask.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.description = f"{path}/ (Maildir)"

    async def connect(self) -> Connection:
        try:
            box = mailbox.Maildir(self.path, create=True)
            # mailbox makes tmp/, new/ and cur/ only along with a folder that is missing:
            # an existing empty folder (made by hand, a mount point) needs them too.
            for sub in ("tmp", "new", "cur"):
                (self.path / sub).mkdir(mode=0o700, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"{self.path}: cannot create the outbox: {exc.strerror}") from None
        return _MaildirConnection(box, self.path / "new")


class _MaildirConnection:
    def __init__(self, box: mailbox.Maildir, new: Path) -> None:
        self.box = box
        self.new = new  # where mailbox puts a message added without flags

    async def send(self, job: Job) -> Outcome:
        try:
            # Return-Path: the envelope sender, as the delivering server records it
            # (RFC 5321 §4.4): where a bounce of this message would go.
            key = self.box.add(b"Return-Path: <%s>\r\n%s" % (job.sender.encode(), job.data))
        except OSError as exc:
            return Outcome(DeliveryStatus.DEFERRED, None, f"cannot write to the outbox: {exc}")
        with contextlib.suppress(OSError):  # in a 0700 folder all the same
            os.chmod(self.new / key, 0o600)
        return Outcome(DeliveryStatus.SENT, 250, "written to the outbox")

    async def close(self) -> None:
        return None

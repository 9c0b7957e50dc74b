"""The bounce mailbox: where reports arrive, behind one small interface (``readers.open_mailbox``).

A reader gives each waiting message once (``messages``) and moves a processed one out of
the way (``done``), so the next run does not read it again:

- a Maildir (the mailbox a local Postfix or Dovecot delivers into): messages in ``new/``,
  and those in ``cur/`` without the seen flag; a processed one goes to ``cur/`` with the
  ``S`` flag (the Maildir spec's info suffix ``:2,S``, flags in ASCII order);
- IMAP (``bounces.imap``): flagged ``\\Seen`` and moved to the processed folder.

A message above ``max_bytes`` is given with its first ``max_bytes`` only (``truncated``):
it is listed as too large, never parsed whole.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

MAX_BYTES = 10_000_000  # a bounce quotes at most the original edition (~100 KB)


@dataclass(frozen=True, slots=True)
class MailboxSpec:
    """Where the bounce mailbox is (from the settings): a Maildir ``path``, or an IMAP
    server (``host``, ``port``, ``tls``: "implicit" for imaps://, "starttls" for
    imap://), its ``user``/``password``, the ``folder`` read and the ``processed`` folder;
    ``ca_file`` trusts a server certificate no public CA signed; ``timeout`` in seconds
    for connecting, logging in and each read."""

    path: Path | None = None
    host: str = ""
    port: int = 993
    tls: str = "implicit"
    user: str = ""
    password: str = field(default="", repr=False)  # never in a log or traceback
    folder: str = "INBOX"
    processed: str = "Processed"
    ca_file: Path | None = None
    timeout: float = 30.0
    max_bytes: int = MAX_BYTES

    @property
    def where(self) -> str:
        """The mailbox as a person names it (never the password)."""
        if self.path is not None:
            return f"{self.path}/ (Maildir)"
        return f"{self.host}:{self.port} ({self.user}, folder {self.folder})"


@dataclass(frozen=True, slots=True)
class Waiting:
    """One message waiting in the mailbox: the reader's name for it (a file name, ``UID
    12``), its bytes (the first ``max_bytes`` when ``truncated``), its full size."""

    origin: str
    data: bytes
    size: int
    truncated: bool = False
    key: object = None  # the reader's own handle


class Mailbox(Protocol):
    def messages(self) -> Iterator[Waiting]: ...

    def done(self, message: Waiting) -> None: ...

    def close(self) -> None: ...

"""The reader for a configured bounce mailbox."""

from __future__ import annotations

from .mailbox import Mailbox, MailboxSpec


def open_mailbox(spec: MailboxSpec) -> Mailbox:
    """The reader for ``spec``, connected (IMAP) or checked (Maildir).

    Raises:
        MailboxError: it cannot be reached, or refused the login; nothing was read.
    """
    if spec.path is not None:
        from .maildir import MaildirReader

        return MaildirReader(spec.path, spec.max_bytes)
    from .imap import ImapReader  # imapclient, ssl

    return ImapReader(spec)

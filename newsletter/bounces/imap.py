"""The bounce mailbox over IMAP (IMAPClient), the ``Mailbox`` interface of ``mailbox``.

``imaps://`` is TLS from the first byte (RFC 8314, port 993); ``imap://`` must upgrade
with STARTTLS (RFC 3501 §6.2.1) before the login, never a plain-text password. The
certificate is checked against the system's CAs, or ``ca_file``'s. Every socket operation
has ``timeout`` seconds, so a silent server ends the run instead of hanging it.

A processed message is flagged ``\\Seen`` and moved to the processed folder (created when
missing): RFC 6851 MOVE where the server has it, else COPY, ``\\Deleted`` and EXPUNGE.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
from collections.abc import Iterator

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError, LoginError

from ..errors import MailboxError
from .mailbox import MailboxSpec, Waiting

FETCH_BATCH = 50  # messages fetched per round trip


class ImapReader:
    """A logged-in IMAP session on the bounce folder."""

    def __init__(self, spec: MailboxSpec) -> None:
        self.spec = spec
        self.client = self._connect()
        self._moved: list[int] = []

    def _connect(self) -> IMAPClient:
        spec = self.spec
        try:
            context = ssl.create_default_context(cafile=str(spec.ca_file) if spec.ca_file else None)
        except OSError as exc:
            raise MailboxError(f"{spec.ca_file}: cannot read the CA file: {exc.strerror}") from None
        implicit = spec.tls == "implicit"
        client = None
        try:
            client = IMAPClient(
                spec.host, spec.port, ssl=implicit, ssl_context=context, timeout=spec.timeout
            )
            if not implicit:
                client.starttls(context)
            client.login(spec.user, spec.password)
            client.select_folder(spec.folder)
            if not client.folder_exists(spec.processed):
                client.create_folder(spec.processed)
        except LoginError:
            _quietly_logout(client)
            raise MailboxError(
                f"{spec.host}:{spec.port}: the IMAP server refused the login of {spec.user!r}",
                "check bounce_password (or the password in bounce_mailbox's URL)",
            ) from None
        except (OSError, IMAPClientError, ssl.SSLError) as exc:
            _quietly_logout(client)
            raise MailboxError(
                f"{spec.host}:{spec.port}: cannot use the IMAP mailbox: {_reason(exc)}",
                "check bounce_mailbox (host, port, imaps:// or imap:// with STARTTLS, "
                "folder) and that the server is up; nothing was changed",
            ) from None
        return client

    def messages(self) -> Iterator[Waiting]:
        try:
            uids = sorted(self.client.search(["NOT", "DELETED"]))
            for start in range(0, len(uids), FETCH_BATCH):
                yield from self._fetch(uids[start : start + FETCH_BATCH])
        except (OSError, IMAPClientError) as exc:
            raise self._lost(exc) from None

    def _fetch(self, uids: list[int]) -> Iterator[Waiting]:
        limit = self.spec.max_bytes
        sizes = self.client.fetch(uids, ["RFC822.SIZE"])
        small = [u for u in uids if sizes.get(u, {}).get(b"RFC822.SIZE", 0) <= limit]
        bodies = self.client.fetch(small, ["BODY.PEEK[]"]) if small else {}
        for uid in uids:
            size = int(sizes.get(uid, {}).get(b"RFC822.SIZE", 0))
            if uid in bodies:
                data = bytes(bodies[uid].get(b"BODY[]", b""))
                yield Waiting(f"UID {uid}", data, size, False, uid)
            elif uid in sizes:  # too large: its header only, to remember it by
                head = self.client.fetch([uid], ["BODY.PEEK[HEADER]"]).get(uid, {})
                data = bytes(head.get(b"BODY[HEADER]", b""))[:limit]
                yield Waiting(f"UID {uid}", data, size, True, uid)

    def done(self, message: Waiting) -> None:
        uid = message.key
        assert isinstance(uid, int)
        try:
            self.client.add_flags([uid], [b"\\Seen"])
            if self.client.has_capability("MOVE"):
                self.client.move([uid], self.spec.processed)
            else:
                self.client.copy([uid], self.spec.processed)
                self.client.add_flags([uid], [b"\\Deleted"])
                self._moved.append(uid)
        except (OSError, IMAPClientError) as exc:
            raise self._lost(exc) from None

    def close(self) -> None:
        try:
            if self._moved:
                self.client.expunge()
            self.client.logout()
        except (OSError, IMAPClientError):
            pass  # the messages are flagged; a repeat is recognised by its Message-ID

    def _lost(self, exc: BaseException) -> MailboxError:
        spec = self.spec
        return MailboxError(
            f"{spec.host}:{spec.port}: the IMAP session failed: {_reason(exc)}",
            "what was processed is recorded; the next run goes on from there",
        )


def _reason(exc: BaseException) -> str:
    if isinstance(exc, socket.timeout | TimeoutError):
        return "no answer (timed out)"
    if isinstance(exc, ssl.SSLCertVerificationError):
        why = exc.verify_message
        return f"certificate not trusted ({why}); set bounce_ca_file for a private CA"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


def _quietly_logout(client: IMAPClient | None) -> None:
    if client is None:
        return
    try:
        client.logout()
    except (OSError, IMAPClientError):
        with contextlib.suppress(OSError, IMAPClientError):
            client.shutdown()

"""A notice (the sign-up confirmation, the welcome message) as message bytes: one message
for one reader, so the email package builds it (a few milliseconds, once).

Headers: From (the list's), To, Subject, Date, a Message-ID on the From domain, and
``Auto-Submitted: auto-generated`` (RFC 3834 5.1: a message sent by a program in answer to
a request, so auto-responders do not answer it); List-Unsubscribe when given (the welcome
message: the reader is on the list from then on).
"""

from __future__ import annotations

from datetime import datetime
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from .dkim import DkimSigner


def notice_bytes(
    sender: str,
    to: str,
    subject: str,
    text: str,
    html: str,
    domain: str,
    now: datetime,
    reply_to: str | None = None,
    unsubscribe: str | None = None,
) -> bytes:
    """``multipart/alternative`` (text, then HTML) in SMTP wire form (CRLF lines).

    Raises:
        ValueError: a header value holds a line break (the email package refuses it).
    """
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = format_datetime(now)
    message["Message-ID"] = make_msgid(domain=domain)  # domain=: no getfqdn() lookup
    message["Auto-Submitted"] = "auto-generated"
    if reply_to:
        message["Reply-To"] = reply_to
    if unsubscribe:
        message["List-Unsubscribe"] = f"<{unsubscribe}>"
    message.set_content(text, cte="quoted-printable")
    message.add_alternative(html, subtype="html", cte="quoted-printable")
    return message.as_bytes(policy=policy.SMTP.clone(utf8=not to.isascii()))


def signed(data: bytes, signer: DkimSigner | None) -> bytes:
    """``data`` (a message in wire form) with a ``DKIM-Signature`` header first, when there
    is a signer (RFC 6376: relaxed/relaxed, the same headers as the editions sign)."""
    if signer is None:
        return data
    head, separator, body = data.partition(b"\r\n\r\n")
    return signer.header(head + b"\r\n", [body]) + data if separator else data

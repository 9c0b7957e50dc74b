"""Submit messages to an SMTP relay over several reused connections.

aiosmtplib opens each connection: TCP, implicit TLS or STARTTLS, the greeting, EHLO and
AUTH. The mail transactions then run on a ``smtpsession.Session`` (pipelined when the
relay offers PIPELINING), which writes the message bytes as they are: messages built by
``personalize`` are already in wire form (CRLF lines, no line opening with ".", a final
CRLF). Any other bytes are put into wire form first (``to_wire``).
"""

from __future__ import annotations

import contextlib
import functools
import re
import ssl
from dataclasses import dataclass, replace
from urllib.parse import unquote, urlsplit

import aiosmtplib
import idna
from aiosmtplib.email import quote_address
from aiosmtplib.protocol import PERIOD_REGEX, normalize_message_line_endings

from ..errors import RelayAuthError, RelayBusy, RelayError
from ..models import DeliveryStatus, Job, Outcome
from .smtpsession import InDoubt, Session, SessionLost

_BOUNCE = re.compile(r"^5\.1\.\d+\b")
_ENHANCED = re.compile(r"^4\.(\d{1,3})\.\d{1,3}\b")  # RFC 3463: class.subject.detail
# The relay's own throttling, in the words relays use (Postfix: "too much mail from",
# "too many connections"; others: "rate limit", "throttled").
_THROTTLING = re.compile(
    r"too (?:much mail|many (?:connections|messages))|rate.?limit|throttl", re.I
)
# A 4.3.x reply about a mailbox rather than the mail system: it names one.
_MAILBOX = re.compile(r"mailbox|<[^<>\s]+@[^<>\s]+>", re.I)
# A dot-atom address (what subscribers.normalise_address lets through) needs no quoting.
_ATOM_ADDRESS = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@[A-Za-z0-9.-]+")


def outcome_for(code: int, text: str) -> Outcome:
    """Classify an SMTP reply: 2xx sent, 4xx deferred (421: the relay is closing the
    connection), 5xx failed (5.1.x: the address does not exist, so it is a bounce).

    A 4xx is one of (RFC 3463 subjects of the enhanced status code that starts ``text``):

    - the relay's throttling (``throttle``): 421, 4.7.x (policy: Postfix's "450 4.7.1
      Error: too much mail from ..."), or a reply saying "too much mail", "too many
      connections", "rate limit";
    - about this recipient only (``recipient_only``): 4.1.x (address), 4.2.x (mailbox:
      "450 4.2.0 Mailbox busy", "452 4.2.2 over quota"), a 4.3.x naming a mailbox, or a
      plain 450 without an enhanced code (RFC 5321 4.2.3: "mailbox unavailable");
    - otherwise a condition of the relay or the session (4.3.x system, 4.4.x network),
      or greylisting (RFC 6647, often "451 4.7.1 greylisted": retried, as before, but
      no reason to slow down).
    """
    if code >= 500:
        return Outcome(DeliveryStatus.FAILED, code, text, bounced=bool(_BOUNCE.match(text)))
    if code < 400:
        return Outcome(DeliveryStatus.SENT, code, text)
    enhanced = _ENHANCED.match(text)
    subject = int(enhanced.group(1)) if enhanced else None
    greylisted = "greylist" in text.lower()
    signal = code == 421 or subject == 7 or bool(_THROTTLING.search(text))
    throttle = signal and not greylisted
    about_recipient = (
        subject in (1, 2)
        or (subject == 3 and bool(_MAILBOX.search(text)))
        or (subject is None and code == 450)
    )
    recipient = about_recipient and not throttle
    return Outcome(
        DeliveryStatus.DEFERRED, code, text, dropped=code == 421,
        recipient_only=recipient, throttle=throttle,
    )  # fmt: skip


def to_wire(data: bytes) -> bytes:
    """Message bytes as sent after DATA: CRLF line endings, final CRLF, dots stuffed."""
    return PERIOD_REGEX.sub(b"..", normalize_message_line_endings(data))


def envelope_address(address: str) -> tuple[bytes, bool]:
    """``<address>`` for MAIL FROM / RCPT TO, and whether it needs SMTPUTF8.

    An internationalised domain goes out in its ASCII form (IDNA 2008 A-labels with UTS
    #46 mapping, RFC 5891, by the ``idna`` package) when the local part is ASCII, so the
    address needs no SMTPUTF8: ``jane@bücher.example`` -> ``<jane@xn--bcher-kva.example>``.

    Raises:
        ValueError: the address is not one plain mailbox that can go into the command as it
            is (it could inject a parameter or command), or its domain is no valid IDNA
            name; the message names the address.
    """
    address = ascii_domain(address)
    if _ATOM_ADDRESS.fullmatch(address):
        return b"<" + address.encode() + b">", False
    quoted = quote_address(address)
    # quote_address parses leniently ("a@x> B" gives <a@x>): mail only the address given.
    if quoted != f"<{address}>":
        raise ValueError(f"address {address!r} cannot be used as it is in an SMTP command")
    return quoted.encode(), not quoted.isascii()


def ascii_domain(address: str) -> str:
    """The address with its domain as IDNA A-labels when the local part is ASCII (only
    the local part then needs SMTPUTF8); unchanged otherwise.

    Raises:
        ValueError: the domain is not a valid internationalised domain name.
    """
    local, at, domain = address.rpartition("@")
    if not at or domain.isascii() or not local.isascii():
        return address
    try:
        return f"{local}@{idna.encode(domain, uts46=True).decode('ascii')}"
    except idna.IDNAError as exc:
        raise ValueError(
            f"address {address!r}: the domain is not a valid IDNA name: {exc}"
        ) from None


@dataclass(frozen=True, slots=True)
class SmtpTarget:
    """The relay: where, how to secure the connection, and who to log in as."""

    scheme: str  # smtp (plain), smtps (implicit TLS), smtp+starttls (STARTTLS required)
    host: str
    port: int
    username: str | None = None
    password: str | None = None
    timeout: float = 30.0
    verify: bool = True

    @classmethod
    def from_url(
        cls, url: str, username: str | None, password: str | None, **options: object
    ) -> SmtpTarget:
        """Read ``smtp[s|+starttls]://[user[:password]@]host[:port]``; credentials in the URL
        win over the ones given separately."""
        parts = urlsplit(url)
        default_port = {"smtps": 465, "smtp+starttls": 587}.get(parts.scheme, 25)
        return cls(
            scheme=parts.scheme,
            host=parts.hostname or "",
            port=parts.port or default_port,
            username=unquote(parts.username) if parts.username else username,
            password=unquote(parts.password) if parts.password else password,
            **options,  # type: ignore[arg-type]
        )

    @property
    def implicit_tls(self) -> bool:
        return self.scheme == "smtps"

    @property
    def starttls(self) -> bool:
        return self.scheme == "smtp+starttls"

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


class SmtpTransport:
    """Connections to one relay; plain, implicit TLS or required STARTTLS, as configured."""

    def __init__(self, target: SmtpTarget, helo_name: str) -> None:
        self.target = target
        self.helo_name = helo_name  # never getfqdn(): slow, and it leaks the host's name
        self.description = f"{target.scheme}://{target.address}"

    def _client(self) -> aiosmtplib.SMTP:
        t = self.target
        return aiosmtplib.SMTP(
            hostname=t.host,
            port=t.port,
            username=t.username,
            password=t.password,
            local_hostname=self.helo_name,
            timeout=t.timeout,
            use_tls=t.implicit_tls,
            # Explicit: None would silently stay plaintext when STARTTLS is not offered.
            start_tls=t.starttls,
            tls_context=self._tls if (t.implicit_tls or t.starttls) else None,
        )

    @functools.cached_property
    def _tls(self) -> ssl.SSLContext:
        # Built once: loading the CA store costs ~30 ms, per connection it would add up.
        context = ssl.create_default_context()
        if not self.target.verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    async def connect(self) -> _SmtpConnection:
        client = self._client()
        where = self.target.address
        try:
            await client.connect()
            await _greet(client)
            connection = _SmtpConnection(client)
        except aiosmtplib.SMTPResponseException as exc:
            if exc.code != 421 or isinstance(exc, aiosmtplib.SMTPAuthenticationError):
                raise self._refused(exc) from None
            _close_quietly(client)  # a throttling signal: the loop slows down or shrinks
            raise RelayBusy(
                f"{where} refused the connection: {exc.code} {exc.message}",
                "the relay allows fewer connections (smtp_connections) or is busy",
            ) from None
        except aiosmtplib.SMTPException as exc:
            raise self._refused(exc) from None
        except (OSError, ssl.SSLError) as exc:
            raise RelayError(
                f"cannot connect to {where}: {exc}", "check smtp_url and the relay"
            ) from None
        return connection

    def _refused(self, exc: aiosmtplib.SMTPException) -> RelayError:
        """The error for a relay that refused the session (authentication, TLS, EHLO)."""
        where = self.target.address
        if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
            return RelayAuthError(
                f"{where} refused authentication for user '{self.target.username}': "
                f"{exc.code} {exc.message}",
                "check smtp_username and smtp_password",
            )
        hint = "check smtp_url and that the relay is running"
        if self.target.starttls and "STARTTLS" in str(exc).upper():
            hint = "the relay does not offer STARTTLS; use smtps:// or a relay that does"
        return RelayError(f"cannot connect to {where}: {exc}", hint)


def _close_quietly(client: aiosmtplib.SMTP) -> None:
    with contextlib.suppress(Exception):
        client.close()


async def _greet(client: aiosmtplib.SMTP) -> None:
    """EHLO (HELO for an old relay) unless connect() already did it (TLS or AUTH).

    Raises:
        aiosmtplib.SMTPException: the relay refuses both.
    """
    if client.is_ehlo_or_helo_needed:
        try:
            await client.ehlo()
        except aiosmtplib.SMTPHeloError:
            await client.helo()


class _SmtpConnection:
    """One open session; runs one mail transaction at a time (its worker's)."""

    def __init__(self, client: aiosmtplib.SMTP) -> None:
        if client.protocol is None or client.protocol.transport is None:
            raise aiosmtplib.SMTPServerDisconnected("connection lost after EHLO")
        transport = client.protocol.transport
        pipelining = client.supports_extension("pipelining")
        self.session = Session(transport, client.timeout, pipelining)  # type: ignore[arg-type]
        self._size = client.supports_extension("size")
        size = client.esmtp_extensions.get("size", "").strip()
        # RFC 1870: "SIZE n" is the largest message it takes; 0 or no number: no fixed limit
        self.size_limit = int(size) if size.isdigit() and int(size) > 0 else None
        self._utf8 = client.supports_extension("smtputf8")

    async def send(self, job: Job) -> Outcome:
        """Submit one message; never raises for what the relay answers."""
        data = job.data if job.wire_ready else to_wire(job.data)
        try:
            mail_from, rcpt_to = self._envelope(job, len(data))
            reply = await self.session.transaction(mail_from, rcpt_to, data)
        except ValueError as exc:  # an address that cannot go into a command
            return Outcome(DeliveryStatus.FAILED, None, str(exc))
        except InDoubt as exc:  # RFC 1047: the relay may have it; resending may duplicate
            text = f"in doubt: {exc} after the message, before the relay's reply (RFC 1047)"
            return Outcome(DeliveryStatus.PENDING, None, text, dropped=True)
        except SessionLost as exc:  # a timeout or a lost connection: reconnect
            return Outcome(DeliveryStatus.DEFERRED, None, str(exc), dropped=True)
        if reply.code == 250:
            outcome = Outcome(DeliveryStatus.SENT, 250, "accepted")
        elif reply.code >= 400:
            outcome = outcome_for(reply.code, reply.text)
        else:  # neither accepted nor refused
            outcome = Outcome(DeliveryStatus.DEFERRED, reply.code, reply.text)
        if self.session.usable:
            return outcome
        return replace(outcome, dropped=True)

    def _envelope(self, job: Job, size: int) -> tuple[bytes, bytes]:
        """The MAIL FROM and RCPT TO arguments, with SIZE and SMTPUTF8 as needed.

        Raises:
            ValueError: an address could inject into a command, or needs SMTPUTF8 and the
                relay does not offer it.
        """
        sender, sender_utf8 = envelope_address(job.sender)
        recipient, recipient_utf8 = envelope_address(job.recipient)
        if self._size:
            sender += b" SIZE=%d" % size
        if sender_utf8 or recipient_utf8:
            if not self._utf8:
                raise ValueError("non-ASCII address and the relay lacks SMTPUTF8")
            sender += b" SMTPUTF8"
        return sender, recipient

    async def close(self) -> None:
        await self.session.quit()

"""Adapter: hand message bytes to an SMTP relay (aiosmtplib) or to a local Maildir outbox.

Both transports answer every message with an ``Outcome``; they know nothing about the
ledger. The relay's reply decides the outcome: 2xx sent, 4xx or a dropped connection
deferred, 5xx failed (5.1.x: the address does not exist, so it is a bounce).
"""

from __future__ import annotations

import asyncio
import contextlib
import mailbox
import re
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlsplit

import aiosmtplib

from .errors import ConfigError, RelayAuthError, RelayError
from .models import DeliveryStatus, Outcome

_BOUNCE = re.compile(r"^5\.1\.\d+\b")


@dataclass(frozen=True, slots=True)
class Job:
    """One message to submit: envelope and bytes."""

    sender: str
    recipient: str
    message_id: str
    data: bytes


class Connection(Protocol):
    async def send(self, job: Job) -> Outcome: ...
    async def close(self) -> None: ...


class Transport(Protocol):
    description: str

    async def connect(self) -> Connection:
        """Open one connection.

        Raises:
            RelayError: the relay is unreachable or refuses TLS or authentication.
        """
        ...


# --- the local outbox -----------------------------------------------------------------


class MaildirTransport:
    """Writes each message as a file into a Maildir folder (the default without SMTP)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.description = f"{path}/ (Maildir)"

    async def connect(self) -> Connection:
        try:
            box = mailbox.Maildir(self.path, create=True)
        except OSError as exc:
            raise ConfigError(f"{self.path}: cannot create the outbox: {exc.strerror}") from None
        return _MaildirConnection(box)


class _MaildirConnection:
    def __init__(self, box: mailbox.Maildir) -> None:
        self.box = box

    async def send(self, job: Job) -> Outcome:
        try:
            self.box.add(job.data)
        except OSError as exc:
            return Outcome(DeliveryStatus.DEFERRED, None, f"cannot write to the outbox: {exc}")
        return Outcome(DeliveryStatus.SENT, 250, "written to the outbox")

    async def close(self) -> None:
        return None


# --- SMTP -----------------------------------------------------------------------------


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
        context = ssl.create_default_context()
        if not t.verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
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
            tls_context=context if (t.implicit_tls or t.starttls) else None,
        )

    async def connect(self) -> Connection:
        client = self._client()
        where = self.target.address
        try:
            await client.connect()
        except aiosmtplib.SMTPAuthenticationError as exc:
            raise RelayAuthError(
                f"{where} refused authentication for user '{self.target.username}': "
                f"{exc.code} {exc.message}",
                "check smtp_username and smtp_password",
            ) from None
        except aiosmtplib.SMTPException as exc:
            hint = "check smtp_url and that the relay is running"
            if self.target.starttls and "STARTTLS" in str(exc).upper():
                hint = "the relay does not offer STARTTLS; use smtps:// or a relay that does"
            raise RelayError(f"cannot connect to {where}: {exc}", hint) from None
        except (OSError, ssl.SSLError) as exc:
            raise RelayError(
                f"cannot connect to {where}: {exc}", "check smtp_url and the relay"
            ) from None
        return _SmtpConnection(client)


class _SmtpConnection:
    def __init__(self, client: aiosmtplib.SMTP) -> None:
        self.client = client

    async def send(self, job: Job) -> Outcome:
        """Submit one message; never raises for what the relay answers."""
        try:
            # sendmail with bytes: send_message() would re-serialise the message.
            await self.client.sendmail(job.sender, [job.recipient], job.data)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            refused = exc.recipients[0]
            return outcome_for(refused.code, refused.message)
        except aiosmtplib.SMTPResponseException as exc:
            if exc.code < 400:  # a broken reply: the connection is no longer usable
                return Outcome(DeliveryStatus.DEFERRED, exc.code, exc.message, dropped=True)
            return outcome_for(exc.code, exc.message)
        except (aiosmtplib.SMTPException, OSError) as exc:
            return Outcome(DeliveryStatus.DEFERRED, None, f"connection lost: {exc}", dropped=True)
        return Outcome(DeliveryStatus.SENT, 250, "accepted")

    async def close(self) -> None:
        try:
            await self.client.quit()
        except (aiosmtplib.SMTPException, OSError):
            self.client.close()


def outcome_for(code: int, text: str) -> Outcome:
    """Classify an SMTP reply: 4xx deferred, 5xx failed (5.1.x bounced)."""
    if code >= 500:
        return Outcome(DeliveryStatus.FAILED, code, text, bounced=bool(_BOUNCE.match(text)))
    if code >= 400:
        return Outcome(DeliveryStatus.DEFERRED, code, text, dropped=code == 421)
    return Outcome(DeliveryStatus.SENT, code, text)


# --- the send loop over several connections -----------------------------------------


async def deliver(
    jobs: AsyncIterator[Job],
    transport: Transport,
    connections: int,
    on_start: Callable[[Job], None],
    on_done: Callable[[Job, Outcome], Awaitable[None] | None],
) -> None:
    """Submit every job over up to ``connections`` connections, each reused.

    ``on_start`` runs (and must commit) before a message is handed over; ``on_done``
    after the relay answered. A connection that drops is reopened for the next message.

    Raises:
        RelayError: the first connection cannot be opened; nothing was submitted.
    """
    first = await transport.connect()
    queue: asyncio.Queue[Job | None] = asyncio.Queue(maxsize=connections * 4)

    async def worker(conn: Connection | None) -> None:
        while (job := await queue.get()) is not None:
            if conn is None:
                try:
                    conn = await transport.connect()
                except RelayError as exc:
                    await _done(on_done, job, Outcome(DeliveryStatus.DEFERRED, None, str(exc)))
                    continue
            on_start(job)
            outcome = await conn.send(job)
            if outcome.dropped:
                await _close_quietly(conn)
                conn = None
            await _done(on_done, job, outcome)
        if conn is not None:
            await conn.close()

    workers = [asyncio.create_task(worker(first if i == 0 else None)) for i in range(connections)]
    try:
        async for job in jobs:
            await queue.put(job)
    finally:
        for _ in workers:
            await queue.put(None)
        await asyncio.gather(*workers)


async def _done(
    on_done: Callable[[Job, Outcome], Awaitable[None] | None], job: Job, outcome: Outcome
) -> None:
    result = on_done(job, outcome)
    if result is not None:
        await result


async def _close_quietly(conn: Connection) -> None:
    with contextlib.suppress(TimeoutError, OSError, aiosmtplib.SMTPException):
        await asyncio.wait_for(conn.close(), timeout=5)

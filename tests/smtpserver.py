"""A real aiosmtpd server on loopback that records what arrives, with fault injection."""

from __future__ import annotations

import asyncio
import email
import email.policy
import socket
import threading
from dataclasses import dataclass, field
from email.message import EmailMessage

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, Session


@dataclass
class Received:
    sender: str
    recipients: list[str]
    data: bytes

    @property
    def message(self) -> EmailMessage:
        return email.message_from_bytes(self.data, policy=email.policy.default)  # type: ignore[return-value]


@dataclass
class Recorder:
    """The handler: records accepted messages; replies and faults are set per test."""

    received: list[Received] = field(default_factory=list)
    rcpt_replies: dict[str, str] = field(default_factory=dict)  # address -> "451 4.7.1 ..."
    data_replies: dict[str, str] = field(default_factory=dict)
    drop_after: int | None = None  # close the connection at DATA after this many messages
    temporary: dict[str, list[str]] = field(default_factory=dict)  # replies used up in turn
    every_rcpt: str | None = None  # one reply for every recipient, e.g. "451 4.3.0 busy"
    delay: float = 0.0  # seconds to wait before answering DATA (a slow server)
    sessions: int = 0  # EHLOs seen: one per connection
    pipelining: bool = True  # offer PIPELINING (RFC 2920), as Postfix, Gmail and SES do
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_EHLO(
        self, server: SMTP, session: Session, envelope: Envelope, hostname: str, responses: list
    ) -> list[str]:
        session.host_name = hostname  # what the default EHLO handling does
        with self.lock:
            self.sessions += 1
        if self.pipelining:  # aiosmtpd reads commands in order, so it copes with pipelining
            responses.insert(-1, "250-PIPELINING")
        return responses

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address in self.rcpt_replies:
            return self.rcpt_replies[address]
        if self.every_rcpt:
            return self.every_rcpt
        with self.lock:
            pending = self.temporary.get(address)
            if pending:
                return pending.pop(0)
        envelope.rcpt_tos.append(address)  # required when handle_RCPT is implemented
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.delay:
            await asyncio.sleep(self.delay)
        with self.lock:
            if self.drop_after is not None and len(self.received) >= self.drop_after:
                self.drop_after = None
                assert server.transport is not None
                server.transport.close()  # the connection drops mid-DATA
                return "421 closing"
            rcpt = envelope.rcpt_tos[0]
            if rcpt in self.data_replies:
                return self.data_replies[rcpt]
            data = envelope.original_content or envelope.content
            assert isinstance(data, bytes)
            self.received.append(Received(str(envelope.mail_from), list(envelope.rcpt_tos), data))
        return "250 OK queued"

    def to(self, address: str) -> list[Received]:
        return [r for r in self.received if address in r.recipients]

    def counts(self) -> dict[str, int]:
        """How many messages each recipient got."""
        result: dict[str, int] = {}
        for r in self.received:
            for address in r.recipients:
                result[address] = result.get(address, 0) + 1
        return result


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Authenticator:
    """Accepts one user/password pair."""

    def __init__(self, user: str, password: str) -> None:
        self.user, self.password = user.encode(), password.encode()

    def __call__(self, server, session, envelope, mechanism, auth_data):  # type: ignore[no-untyped-def]
        ok = auth_data.login == self.user and auth_data.password == self.password
        return AuthResult(success=ok, handled=False)  # the server sends the 535


def start_server(recorder: Recorder, **kwargs: object) -> Controller:
    # Controller(port=0) cannot work (it connects to port 0 to check readiness): pick one.
    controller = Controller(recorder, hostname="127.0.0.1", port=free_port(), **kwargs)
    controller.start()
    return controller

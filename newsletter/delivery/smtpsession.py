"""Part of ``relay``: mail transactions on a session aiosmtplib has opened.

aiosmtplib connects, secures (TLS, STARTTLS), greets and authenticates. Then ``relay``
hands the connection's transport to a ``Session``, which runs the mail transactions
itself, one at a time:

- with PIPELINING (RFC 2920) when the relay offers it: MAIL, RCPT and DATA go out in one
  write and their three replies come back together, so a message costs two round trips
  instead of four;
- the message bytes, already in wire form, are written as they are.

aiosmtplib cannot do either: it has no PIPELINING, and ``sendmail`` re-scans every body.
Measured into Postfix's smtp-sink with 61 KB messages (bench/): aiosmtplib ``sendmail``
~1.9 ms of CPU a message, its ``execute_command`` with wire-form bytes ~0.5 ms, this
session ~0.23 ms pipelined.
"""

from __future__ import annotations

import asyncio
import re
from collections import deque
from typing import NamedTuple

CRLF = b"\r\n"
_END_OF_DATA = b".\r\n"
_MAX_REPLY = 64 * 1024  # a relay sending more than this without a line end is broken
_CONTROL = re.compile(rb"[\x00-\x1f\x7f]")
# The replies to MAIL, RCPT and DATA that let the message go.
_GO_AHEAD = ((250,), (250, 251), (354,))


class Reply(NamedTuple):
    code: int  # -1 for a line that is not an SMTP reply
    text: str


class SessionLost(Exception):
    """The connection closed, broke the protocol, or timed out; it cannot be used again."""


class InDoubt(SessionLost):
    """The connection was lost (or timed out) after the message's final dot, before the
    relay's reply: the relay may or may not have taken the message (RFC 1047)."""


class Session(asyncio.Protocol):
    """One SMTP session taken over from aiosmtplib after EHLO (and STARTTLS, AUTH)."""

    def __init__(
        self, transport: asyncio.Transport, timeout: float | None, pipelining: bool
    ) -> None:
        self.transport = transport
        self.timeout = timeout
        self.pipelining = pipelining
        self.usable = True  # False once the session must not carry another message
        self._buffer = bytearray()
        self._lines: list[str] = []  # the lines so far of a multi-line reply
        self._replies: deque[Reply] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._lost: str | None = None
        self._error: Reply | None = None  # the last error reply: why a session ended
        transport.set_protocol(self)

    # --- asyncio.Protocol ---------------------------------------------------------------
    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        while (end := buffer.find(b"\n")) >= 0:
            line = bytes(buffer[: end + 1])
            del buffer[: end + 1]
            self._lines.append(line[4:].strip().decode("utf-8", "replace"))
            if line[3:4] == b"-":  # more lines of this reply follow
                continue
            code = int(line[:3]) if line[:3].isdigit() else -1
            reply = Reply(code, "\n".join(self._lines))
            if code >= 400:
                self._error = reply
            self._replies.append(reply)
            self._lines = []
        if len(buffer) > _MAX_REPLY:
            self._fail("the relay sent an overlong reply line")
            self.transport.abort()
        self._wake()

    def eof_received(self) -> bool:
        self._fail(self._closed())
        return False  # close the transport

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(f"connection lost: {exc}" if exc else self._closed())

    def _closed(self) -> str:
        """Why the relay closed: its last error reply, when it gave one (Postfix says
        "421 4.7.0 Error: too many errors" before it hangs up)."""
        if self._error is None:
            return "the relay closed the connection"
        return f"the relay closed the connection after: {self._error.code} {self._error.text}"

    # --- transactions -------------------------------------------------------------------
    async def transaction(self, mail_from: bytes, rcpt_to: bytes, data: bytes) -> Reply:
        """Submit one message; return the relay's answer: the reply to the message (250
        accepted) or the first refusal, after which the envelope is reset.

        ``mail_from`` and ``rcpt_to`` are command arguments (``<address>`` and options);
        ``data`` is in wire form: CRLF line endings, dots stuffed, a final CRLF.

        Raises:
            ValueError: an argument holds a control character (it could inject a command).
            InDoubt: the connection failed or timed out after the final dot was written,
                before the reply: the relay may have the message.
            SessionLost: the connection failed or the relay did not answer in time before
                that: the relay does not have the message.
        """
        if _CONTROL.search(mail_from) or _CONTROL.search(rcpt_to):
            raise ValueError("an envelope address holds a control character")
        mail, rcpt = b"MAIL FROM:" + mail_from + CRLF, b"RCPT TO:" + rcpt_to + CRLF
        handed_over = False
        try:
            async with asyncio.timeout(self.timeout):  # one timer for the whole exchange
                try:
                    replies = await self._envelope(mail, rcpt)
                except SessionLost:
                    if (refusal := self._refused_before_loss()) is not None:
                        return refusal  # the relay said why before it hung up: keep it
                    raise
                refusal = _refusal(replies)
                if refusal is not None:
                    return await self._abandon(refusal, replies)
                self._write(data + _END_OF_DATA)
                handed_over = True
                (answer,) = await self._read(1)
        except TimeoutError:
            self._fail("timed out waiting for the relay")
            self.transport.abort()
            raise (InDoubt if handed_over else SessionLost)(self._lost) from None
        except SessionLost as exc:
            if handed_over:
                raise InDoubt(str(exc)) from None
            raise
        if answer.code != 250 and answer.code < 400:
            self.usable = False  # neither accepted nor refused: the exchange is out of step
        return answer

    async def quit(self) -> None:
        """QUIT and close; never raises."""
        if self.usable and self._lost is None:
            try:
                async with asyncio.timeout(5):
                    self._write(b"QUIT\r\n")
                    await self._read(1)
            except (TimeoutError, SessionLost):
                pass
        self.usable = False
        self.transport.close()

    async def _envelope(self, mail: bytes, rcpt: bytes) -> list[Reply]:
        """MAIL, RCPT and DATA: pipelined in one write, or one by one."""
        if self.pipelining:
            self._write(mail + rcpt + b"DATA\r\n")
            return await self._read(3)
        return await self._one_by_one(mail, rcpt)

    def _refused_before_loss(self) -> Reply | None:
        """The relay's refusal among the replies that came before the connection ended."""
        replies = list(self._replies)
        self._replies.clear()
        return next((r for r in replies if r.code >= 400), None)

    async def _one_by_one(self, mail: bytes, rcpt: bytes) -> list[Reply]:
        """Without PIPELINING: each command waits for its reply; stop at a refusal."""
        replies: list[Reply] = []
        for command, accepted in zip((mail, rcpt, b"DATA\r\n"), _GO_AHEAD, strict=True):
            self._write(command)
            replies += await self._read(1)
            if replies[-1].code not in accepted:
                break
        return replies

    async def _abandon(self, refusal: Reply, replies: list[Reply]) -> Reply:
        """End a refused transaction: an empty message if DATA was accepted anyway (RFC
        2920 3.1), then RSET so the next message starts clean. The refusal is the
        message's answer even when the relay hangs up meanwhile (Postfix answers "421
        4.7.0 Error: too many errors" and closes): the session is then unusable."""
        if any(reply.code == 421 for reply in replies):  # the relay is closing
            self.usable = False
            return refusal
        try:
            if len(replies) == 3 and replies[2].code == 354:
                self._write(_END_OF_DATA)
                await self._read(1)
            self._write(b"RSET\r\n")
            (reset,) = await self._read(1)
            self.usable = reset.code == 250
        except SessionLost:
            self.usable = False
        return refusal

    def _write(self, data: bytes) -> None:
        if self._lost is not None or self.transport.is_closing():
            raise SessionLost(self._lost or "connection closed")
        self.transport.write(data)

    async def _read(self, count: int) -> list[Reply]:
        """The next ``count`` replies.

        Raises:
            SessionLost: the connection ended first.
        """
        while len(self._replies) < count:
            if self._lost is not None:
                raise SessionLost(self._lost)
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return [self._replies.popleft() for _ in range(count)]

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def _fail(self, reason: str) -> None:
        if self._lost is None:
            self._lost = reason
        self.usable = False
        self._wake()


def _refusal(replies: list[Reply]) -> Reply | None:
    """The first reply of MAIL, RCPT, DATA that is not the one that lets the message go."""
    for reply, accepted in zip(replies, _GO_AHEAD, strict=False):
        if reply.code not in accepted:
            return reply
    return None

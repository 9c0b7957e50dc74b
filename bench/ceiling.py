"""Ceilings: the same pre-built bytes sent N times over C connections, nothing else.

python bench/ceiling.py MESSAGE.eml PORT CONNECTIONS COUNT [sendmail|wire|session]

sendmail: aiosmtplib's ``SMTP.sendmail(from, [to], bytes)``: the usual way, the
          baseline. It re-scans the body every time (line endings twice, dot-stuffing).
wire:     aiosmtplib with the bytes put into wire form once, then MAIL/RCPT/DATA through
          ``execute_command`` and the bytes written as they are.
session:  newsletter's own transport (relay.py + smtpsession.py: aiosmtplib opens the
          connection, then pipelined transactions), fed the same Job over and over: the
          ceiling for ``newsletter send``, whose own work (CSV, personalize, ledger)
          comes on top.
"""

from __future__ import annotations

import asyncio
import sys

import aiosmtplib
from aiosmtplib.protocol import PERIOD_REGEX, normalize_message_line_endings


async def main(data: bytes, port: int, connections: int, count: int, mode: str) -> None:
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(count):
        queue.put_nowait(i)
    wire = PERIOD_REGEX.sub(b"..", normalize_message_line_endings(data)) + b".\r\n"
    size = b"SIZE=%d" % (len(wire) - 3)

    if mode == "session":
        await newsletter_transport(data, port, connections, queue)
        return

    async def worker() -> None:
        client = aiosmtplib.SMTP(
            hostname="127.0.0.1", port=port, start_tls=False, local_hostname="bench.example.com"
        )
        await client.connect()
        await client.ehlo()
        while not queue.empty():
            i = queue.get_nowait()
            if mode == "sendmail":
                await client.sendmail("news@example.com", [f"reader{i}@example.com"], data)
                continue
            replies = [
                await client.execute_command(b"MAIL", b"FROM:<news@example.com>", size),
                await client.execute_command(b"RCPT", b"TO:<reader%d@example.com>" % i),
                await client.execute_command(b"DATA"),
            ]
            assert [r.code for r in replies] == [250, 250, 354], replies
            assert client.protocol is not None
            client.protocol.write(wire)
            reply = await client.protocol.read_response(timeout=60)
            assert reply.code == 250, reply
        await client.quit()

    await asyncio.gather(*(worker() for _ in range(connections)))


async def newsletter_transport(
    data: bytes, port: int, connections: int, queue: asyncio.Queue[int]
) -> None:
    from newsletter.delivery.relay import SmtpTarget, SmtpTransport, to_wire
    from newsletter.models import DeliveryStatus, Job

    transport = SmtpTransport(SmtpTarget("smtp", "127.0.0.1", port), "bench.example.com")
    wire = to_wire(data)

    async def worker() -> None:
        conn = await transport.connect()
        while not queue.empty():
            i = queue.get_nowait()
            job = Job("news@example.com", f"reader{i}@example.com", "", wire, wire_ready=True)
            outcome = await conn.send(job)
            assert outcome.status is DeliveryStatus.SENT, outcome
        await conn.close()

    await asyncio.gather(*(worker() for _ in range(connections)))


if __name__ == "__main__":
    with open(sys.argv[1], "rb") as handle:
        message = handle.read()
    mode = sys.argv[5] if len(sys.argv) > 5 else "sendmail"
    asyncio.run(main(message, int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), mode))

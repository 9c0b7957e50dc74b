"""The ceiling: aiosmtplib sending the same pre-built bytes N times over C connections.

python bench/raw_aiosmtplib.py MESSAGE.eml PORT CONNECTIONS COUNT
"""

from __future__ import annotations

import asyncio
import sys

import aiosmtplib


async def main(data: bytes, port: int, connections: int, count: int) -> None:
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(count):
        queue.put_nowait(i)

    async def worker() -> None:
        client = aiosmtplib.SMTP(
            hostname="127.0.0.1", port=port, start_tls=False, local_hostname="bench.example.com"
        )
        await client.connect()
        while not queue.empty():
            i = queue.get_nowait()
            await client.sendmail("news@example.com", [f"reader{i}@example.com"], data)
        await client.quit()

    await asyncio.gather(*(worker() for _ in range(connections)))


if __name__ == "__main__":
    with open(sys.argv[1], "rb") as handle:
        message = handle.read()
    asyncio.run(main(message, int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])))

"""A real HTTP server on loopback serving fixture feeds, with per-path behaviour and a log.

Each route is a function of the request headers returning (status, headers, body); the
server records every request (path and headers) so tests can check what crossed the wire:
conditional GET validators, the User-Agent, who asked again after a 410.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from PIL import Image

Reply = tuple[int, dict[str, str], bytes]
Route = Callable[[dict[str, str]], Reply]


@dataclass
class FeedServer:
    routes: dict[str, Route] = field(default_factory=dict)
    log: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    port: int = 0

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def requests_for(self, path: str) -> list[dict[str, str]]:
        return [headers for p, headers in self.log if p == path]

    def add(self, path: str, body: bytes | str, content_type: str = "application/rss+xml") -> None:
        data = body.encode() if isinstance(body, str) else body
        self.routes[path] = lambda _h: (200, {"Content-Type": content_type}, data)


def start(server: FeedServer) -> tuple[ThreadingHTTPServer, threading.Thread]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            headers = {k.lower(): v for k, v in self.headers.items()}
            server.log.append((self.path, headers))
            route = server.routes.get(self.path)
            status, extra, body = route(headers) if route else (404, {}, b"not found")
            if body and "gzip" in headers.get("accept-encoding", "") and status == 200:
                body, extra = gzip.compress(body), {**extra, "Content-Encoding": "gzip"}
            self.send_response(status)
            for name, value in extra.items():
                self.send_header(name, value)
            if "Content-Length" not in extra:
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            # The client may have given up (a timeout test): nothing to do then.
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(body)

        def log_message(self, *args: object) -> None:  # keep test output clean
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    server.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    return httpd, thread


@contextlib.contextmanager
def serving() -> Iterator[FeedServer]:
    """A ``FeedServer`` on loopback for the ``with`` block, shut down after it (the
    ``feeds`` fixture of conftest.py; a second one where a test needs another host)."""
    server = FeedServer()
    httpd, thread = start(server)
    try:
        yield server
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


# --- fixture documents ------------------------------------------------------------------------


def rfc822(moment: datetime) -> str:
    return format_datetime(moment.astimezone(UTC), usegmt=True)


def hours_ago(hours: float) -> datetime:
    return datetime.now(UTC) - timedelta(hours=hours)


def rss(title: str, items: list[str], extra: str = "") -> str:
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>'
        f"<title>{title}</title><link>http://example.org/</link>{extra}"
        + "".join(items)
        + "</channel></rss>"
    )


def rss_item(
    title: str,
    *,
    link: str | None = None,
    guid: str | None = None,
    age_hours: float = 1,
    description: str = "",
    date: str | None = None,
) -> str:
    parts = [f"<title>{title}</title>"]
    if link:
        parts.append(f"<link>{link}</link>")
    if guid:
        parts.append(f'<guid isPermaLink="false">{guid}</guid>')
    parts.append(f"<pubDate>{date if date is not None else rfc822(hours_ago(age_hours))}</pubDate>")
    if description:
        parts.append(f"<description><![CDATA[{description}]]></description>")
    return "<item>" + "".join(parts) + "</item>"


def slow(seconds: float, reply: Reply) -> Route:
    def route(_headers: dict[str, str]) -> Reply:
        time.sleep(seconds)
        return reply

    return route


def picture(
    size: tuple[int, int], fmt: str = "PNG", colour: tuple[int, int, int] = (200, 120, 40)
) -> bytes:
    """A real picture file of ``size`` pixels (Pillow), to serve as an article's image."""
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, fmt)
    return out.getvalue()

"""The unsubscribe endpoint (aiohttp), mounted by ``newsletter serve`` into the daemon's app.

``/unsubscribe/<token>``:

- ``POST`` with ``List-Unsubscribe=One-Click`` (RFC 8058, what Gmail and Yahoo send from
  their "Unsubscribe" button; also what our confirmation page's button posts) unsubscribes
  at once: 200 and a short page, no redirect, no cookie;
- ``GET`` shows a confirmation page with that button: link scanners follow GETs, so a GET
  never unsubscribes anyone;
- a forged, malformed or expired token changes nothing and says so (400);
- an unsubscribe that cannot be recorded (the database is read-only, the disk full) is
  not confirmed: 503 and a page asking to try again later; nothing pretends it worked;
- a request aiohttp cannot parse (a request line or header over its 8 KB limit, say a
  100 KB URL) gets aiohttp's 400, without the traceback aiohttp would log for it.

``make_app`` builds the application; the daemon (scheduler.Daemon) adds ``/healthz`` and
serves it on the loop its scheduler runs on.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import logging
import sys
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from ..edition.languages import Language
from ..errors import InputError, NewsletterError
from ..settings import Settings
from ..settings.values import accepted_previous_keys, list_files, secret_key
from ..store.database import Store
from ..subscribers.changes import apply_if_free, unsubscribe
from ..subscribers.tokens import UNSUBSCRIBE, TokenCodec
from .pagelanguage import pages_language
from .signup import add_signup_routes
from .signup import masked as masked_address

Clock = Callable[[], datetime]
APPLY_EVERY = 60.0  # seconds between attempts to write pending unsubscribes into the CSV
_SETTINGS = web.AppKey("settings", Settings)
_CLOCK = web.AppKey("clock", Callable[[], datetime])  # type: ignore[arg-type]
_POOL = web.AppKey("pool", ThreadPoolExecutor)


def token_codec(
    settings: Settings, store: Store, now: datetime, purpose: str = UNSUBSCRIBE
) -> TokenCodec:
    """The codec for incoming tokens of ``purpose``: the current key, plus each previous key
    until ``previous_secret_keys_days`` after it was first seen listed as previous (recorded
    in the database, so nobody has to write a date down when rotating)."""
    previous = accepted_previous_keys(settings, store, now)
    return TokenCodec(secret_key(settings, store), settings.list_identifier, previous, purpose)


class _QuietBadRequests(logging.Filter):
    """Drops aiohttp's "Error handling request" records for requests it could not parse
    (``HttpProcessingError``: an overlong URL or header, a broken request line): the
    client's mistake, answered 400, and on the open internet a traceback per scanner."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        return not isinstance(error, HttpProcessingError)


def make_app(settings: Settings, clock: Clock) -> web.Application:
    server_log = logging.getLogger("aiohttp.server")
    if not any(isinstance(f, _QuietBadRequests) for f in server_log.filters):
        server_log.addFilter(_QuietBadRequests())
    app = web.Application(client_max_size=64 * 1024)
    app[_SETTINGS], app[_CLOCK] = settings, clock
    # One worker: unsubscribes touch SQLite and maybe rewrite the CSV; one at a time, off
    # the event loop (a rewrite of a big list takes seconds).
    app[_POOL] = ThreadPoolExecutor(max_workers=1, thread_name_prefix="unsubscribe")
    app.router.add_get("/unsubscribe/{token}", confirm_page)
    app.router.add_post("/unsubscribe/{token}", one_click)
    if settings.public_url:  # the confirmation links point there
        add_signup_routes(app, settings, clock, app[_POOL])
    app.on_cleanup.append(_shutdown_pool)
    app.cleanup_ctx.append(_janitor)
    return app


async def _janitor(app: web.Application) -> AsyncIterator[None]:
    """While serving: write unsubscribes a send kept from the CSV once the lock is free."""
    task = asyncio.create_task(apply_pending_forever(app[_SETTINGS], app[_CLOCK]))
    yield
    task.cancel()


async def _shutdown_pool(app: web.Application) -> None:
    app[_POOL].shutdown(wait=True)


def _read(app: web.Application, token: str) -> str | None:
    settings, now = app[_SETTINGS], app[_CLOCK]()
    with Store(settings.database) as store:
        return token_codec(settings, store, now).read(token)


async def _in_pool(request: web.Request, fn: Callable[..., object], *args: object) -> object:
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(request.app[_POOL], fn, *args)


async def confirm_page(request: web.Request) -> web.Response:
    settings = request.app[_SETTINGS]
    lang = pages_language(settings)
    _ = lang.gettext
    try:
        email = await _in_pool(request, _read, request.app, request.match_info["token"])
    except NewsletterError as exc:
        return _unavailable(exc, lang)
    if not isinstance(email, str):
        return _invalid(lang)
    name, masked = html.escape(settings.newsletter_name), html.escape(masked_address(email))
    button = _("Unsubscribe")
    ask = _("Stop sending %(name)s to <strong>%(email)s</strong>?", name=name, email=masked)
    return page(
        _("Unsubscribe from %(name)s?", name=name),
        f'<p>{ask}</p><form method="post"><input type="hidden" name="List-Unsubscribe" '
        f'value="One-Click"><button type="submit">{button}</button></form>',
        language=lang,
    )


async def one_click(request: web.Request) -> web.Response:
    form = await request.post()
    app = request.app
    lang = pages_language(app[_SETTINGS])
    _ = lang.gettext
    if form.get("List-Unsubscribe") != "One-Click":
        field = "<code>List-Unsubscribe=One-Click</code>"
        said = _("This request did not ask to unsubscribe (no %(field)s). Nothing changed.",
                 field=field)  # fmt: skip
        return page(_("Nothing changed"), f"<p>{said}</p>", 400, language=lang)
    try:
        email = await _in_pool(request, _read, app, request.match_info["token"])
        if not isinstance(email, str):
            return _invalid(lang)
        await _in_pool(request, _unsubscribe, app[_SETTINGS], email, app[_CLOCK]())
    except NewsletterError as exc:  # not recorded: never say it was
        return _unavailable(exc, lang)
    name, masked = html.escape(app[_SETTINGS].newsletter_name), html.escape(masked_address(email))
    done = _("<strong>%(email)s</strong> will not receive %(name)s any more.",
             email=masked, name=name)  # fmt: skip
    return page(_("You are unsubscribed"), f"<p>{done}</p>", language=lang)


def _unsubscribe(settings: Settings, email: str, now: datetime) -> None:
    """Record it; a CSV that cannot be rewritten now is reported, not the subscriber's
    problem: the unsubscribe is recorded and every send skips the address.

    Raises:
        NewsletterError: it could not be recorded (``StoreError``: the database cannot be
            written; ``ConfigError``: it cannot be used).
    """
    try:
        unsubscribe(list_files(settings), email, "one-click", now)
    except InputError as exc:  # the CSV only: the database has it
        print(
            f"newsletter serve: {email}: unsubscribe recorded, list not updated: {exc}",
            file=sys.stderr,
            flush=True,
        )


def _unavailable(exc: NewsletterError, lang: Language) -> web.Response:
    """503: the request could not be recorded; said on stderr for the operator."""
    print(f"newsletter serve: unsubscribe not recorded: {exc}", file=sys.stderr, flush=True)
    _ = lang.gettext
    said = _(
        "Your request could not be recorded just now, so nothing changed yet. Please "
        "try the link again in a while, or reply to the message asking to unsubscribe."
    )
    return page(_("Please try again later"), f"<p>{said}</p>", 503, language=lang)


def _invalid(lang: Language) -> web.Response:
    _ = lang.gettext
    said = _(
        "The link is damaged, incomplete or not one of ours. Nothing changed. Use the "
        "unsubscribe link of a recent message, or reply to it asking to unsubscribe."
    )
    return page(_("This unsubscribe link is not valid"), f"<p>{said}</p>", 400, language=lang)


_STYLE = (
    "body{font-family:system-ui,-apple-system,sans-serif;max-width:32rem;margin:2rem auto;"
    "padding:0 1rem;line-height:1.5;color:#222}button{font-size:1.1rem;padding:.8rem 1.6rem;"
    "border:0;border-radius:.4rem;background:#b3261e;color:#fff;width:100%;max-width:20rem}"
)


def page(
    title: str, body: str, status: int = 200, *, language: Language | None = None
) -> web.Response:
    """A small page of the daemon's (``title``, ``body`` as HTML, both in ``language``,
    which gives ``lang`` and ``dir``): no cache, no referrer; a 503 says when to retry."""
    tag, direction = (language.tag, language.direction) if language else ("en", "ltr")
    text = (
        f'<!doctype html><html lang="{html.escape(tag)}" dir="{direction}"><head>'
        '<meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta name="robots" content="noindex"><title>{title}</title><style>{_STYLE}</style>'
        f"</head><body><h1>{title}</h1>{body}</body></html>"
    )
    headers = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
    if status == 503:
        headers["Retry-After"] = "300"  # RFC 9110 10.2.3: seconds
    return web.Response(text=text, status=status, content_type="text/html", headers=headers)


async def apply_pending_forever(settings: Settings, clock: Clock) -> None:
    """Write unsubscribes a send kept from the CSV once the lock is free again."""
    while True:
        await asyncio.sleep(APPLY_EVERY)
        with contextlib.suppress(Exception):  # reported by the next send or unsubscribe
            await asyncio.to_thread(apply_if_free, list_files(settings), clock())

"""The sign-up endpoints (aiohttp), mounted by ``web.make_app`` when ``public_url`` is set.

- ``GET /subscribe``: the sign-up page (email, an optional name, the sections when the
  list has a ``sections`` column), from ``signup.html.j2``, styled like the edition;
- ``POST /subscribe``: a form-encoded body, from that page or from a form pasted into
  another site (no token fetched first: the form is static HTML). It mails one
  confirmation through the configured transport and answers "check your inbox", the
  same whether or not the address is on the list. Refused with a page and nothing
  recorded: a wrong content type (415), a body over ``MAX_BODY`` (413), an invalid
  address or an overlong field (400). A filled-in honeypot gets the usual answer and
  nothing else. A limit reached (per address a day, per IP an hour) gets 429 with
  ``Retry-After`` and a page saying when;
- ``GET /confirm/<token>``: one "Confirm" button; changes nothing (mail scanners open
  links);
- ``POST /confirm/<token>``: records the consent and puts the address on the list
  (subscribers.signup.confirm); a forged or tampered token gets 400, an expired one 410,
  both with a link to sign up again. Confirming twice is harmless.

The client's IP (for the per-IP limit and the consent record) is ``clientip``'s.
"""

from __future__ import annotations

import asyncio
import logging
import mailbox
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parseaddr
from typing import Any
from urllib.parse import parse_qs

from aiohttp import web

from ..delivery.outbox import MaildirTransport
from ..delivery.sendloop import Transport
from ..edition.notices import render_notice, render_signup_page
from ..edition.templates import load_templates
from ..errors import ConfigError, InputError, NewsletterError
from ..mail.notice import notice_bytes, signed
from ..models import DeliveryStatus, Job
from ..settings import Settings
from ..settings.values import dkim_signer, list_files, list_info, secret_key, transport
from ..store.consents import Consents, latest_edition_day, recent_sections
from ..store.database import Store
from ..subscribers.csvfile import subscriber_columns
from ..subscribers.signup import (
    Confirmation,
    ConfirmationCodec,
    Confirmed,
    FormProblem,
    Limits,
    SignupRequest,
    admit,
    complained,
    confirm,
    read_form,
)
from ..subscribers.tokens import TokenCodec
from .clientip import client_ip
from .pagelanguage import confirm_hours, retry_at

log = logging.getLogger("newsletter")
Clock = Callable[[], datetime]
MAX_BODY = 4096  # bytes: the form's fields fit in well under 1 KB
FORM_TYPE = "application/x-www-form-urlencoded"
NOTICES = "notices"  # the outbox's folder for confirmations and welcomes
SECTIONS_LOOKBACK = timedelta(days=30)  # sections offered: section_order + recent articles


@dataclass(frozen=True)
class SignupService:
    settings: Settings
    clock: Clock
    pool: ThreadPoolExecutor

    @property
    def limits(self) -> Limits:
        return Limits(per_ip_hour=self.settings.signup_per_ip_hour)

    def url(self, path: str) -> str:
        return f"{(self.settings.public_url or '').rstrip('/')}/{path}"

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self.pool, fn, *args)


_SERVICE = web.AppKey("signup", SignupService)


def add_signup_routes(
    app: web.Application, settings: Settings, clock: Clock, pool: ThreadPoolExecutor
) -> None:
    """Mount the sign-up endpoints; ``pool`` is the one worker that writes the list."""
    app[_SERVICE] = SignupService(settings, clock, pool)
    app.router.add_get("/subscribe", form_page)
    app.router.add_post("/subscribe", subscribe)
    app.router.add_get("/confirm/{token}", confirm_page)
    app.router.add_post("/confirm/{token}", confirm_post)


# --- pages ---------------------------------------------------------------------------


def _page(service: SignupService, page: str, status: int = 200, **context: Any) -> web.Response:
    """Render ``signup.html.j2`` as ``page``; a broken template is the operator's: 500."""
    settings = service.settings
    headers = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
    values = {
        "list": list_info(settings),
        "form_action": "subscribe",
        "signup_url": service.url("subscribe"),
        "hours": confirm_hours(settings),
        "problem": "",
        "email": "",
        "name": "",
        "sections": [],
        "chosen": [],
        "masked": "",
        "retry_at": "",
        **context,
    }
    try:
        html = render_signup_page(load_templates(settings.templates), page, values)
    except NewsletterError as exc:
        _say(f"cannot show the sign-up page: {exc}")
        return web.Response(text="The sign-up page is broken.", status=500, headers=headers)
    if status in (429, 503) and "retry_after" in context:
        headers["Retry-After"] = str(context["retry_after"])  # RFC 9110 10.2.3: seconds
    return web.Response(text=html, status=status, content_type="text/html", headers=headers)


def _say(text: str) -> None:
    print(f"newsletter serve: {text}", file=sys.stderr, flush=True)


def masked(email: str) -> str:
    """``ja…@example.com``: enough to recognise, little for whoever sees the page."""
    local, _, domain = email.partition("@")
    return f"{local[:2]}…@{domain}"


def offered_sections(settings: Settings, now: datetime) -> list[str]:
    """The sections a reader may choose: none unless the list has a ``sections`` column;
    then ``section_order``'s, then those of recently collected articles."""
    try:
        if "sections" not in subscriber_columns(settings.subscribers):
            return []
    except (OSError, InputError):
        return []
    with Store(settings.database) as store:
        found = recent_sections(store, now - SECTIONS_LOOKBACK)
    names: dict[str, str] = {}
    for name in [*settings.section_order, *found]:
        names.setdefault(name.casefold(), name)
    return list(names.values())


# --- the form ------------------------------------------------------------------------


async def form_page(request: web.Request) -> web.Response:
    service = request.app[_SERVICE]
    try:
        sections = await service.run(offered_sections, service.settings, service.clock())
    except NewsletterError as exc:
        _say(f"sign-up page: {exc}")
        return _page(service, "unavailable", 503, retry_after=300)
    return _page(service, "form", sections=sections)


async def subscribe(request: web.Request) -> web.Response:
    service = request.app[_SERVICE]
    if request.content_type != FORM_TYPE:
        return _page(service, "bad", 415, problem="The form must be sent as a web form.")
    body = await _capped_body(request)
    if body is None:
        return _page(service, "bad", 413, problem="The form is too large.")
    try:
        fields = parse_qs(
            body.decode("ascii"), keep_blank_values=True, max_num_fields=40, errors="strict"
        )
        sections = await service.run(offered_sections, service.settings, service.clock())
        wanted = read_form(fields, sections)
    except FormProblem as problem:
        return _page(service, "bad", 400, problem=str(problem), sections=sections)
    except (UnicodeDecodeError, ValueError):
        return _page(service, "bad", 400, problem="The form could not be read.")
    except NewsletterError as exc:
        _say(f"sign-up not recorded: {exc}")
        return _page(service, "unavailable", 503, retry_after=300)
    ip = client_ip(request, service.settings.trusted_proxies)
    if wanted is None:
        log.info("sign-up from %s ignored: the hidden honeypot field was filled in", ip)
        return _page(service, "sent")
    return await _request_confirmation(service, wanted, ip)


async def _capped_body(request: web.Request) -> bytes | None:
    """The body, or None when it is (or announces itself) over ``MAX_BODY``."""
    if request.content_length is not None and request.content_length > MAX_BODY:
        return None
    body = b""
    while chunk := await request.content.read(MAX_BODY + 1 - len(body)):
        body += chunk
        if len(body) > MAX_BODY:
            return None
    return body


async def _request_confirmation(
    service: SignupService, wanted: SignupRequest, ip: str
) -> web.Response:
    now = service.clock()
    try:
        verdict = await service.run(_admit, service, wanted, ip, now)
    except NewsletterError as exc:
        _say(f"sign-up not recorded: {exc}")
        return _page(service, "unavailable", 503, retry_after=300)
    if isinstance(verdict, datetime):
        wait = max(1, int((verdict - now).total_seconds()) + 1)
        when = retry_at(service.settings, verdict, now)
        return _page(service, "limited", 429, retry_after=wait, retry_at=when)
    if verdict is not None:  # a token: mail the link (a complaint-flagged address gets none)
        context = {
            "email": wanted.email,
            "name": wanted.name,
            "sections": list(wanted.sections),
            "confirm_url": service.url(f"confirm/{verdict}"),
        }
        if not await _mail(service, "confirm", wanted.email, context, now):
            return _page(service, "unavailable", 503, retry_after=300)
    return _page(service, "sent")


def _admit(
    service: SignupService, wanted: SignupRequest, ip: str, now: datetime
) -> datetime | str | None:
    """When to try again (a limit is reached), else the confirmation token to mail, or
    None for an address flagged for a complaint (counted all the same, so the answers do
    not tell it apart)."""
    with Store(service.settings.database) as store:
        retry = admit(store, wanted.email, ip, now, service.limits)
        if retry is not None:
            return retry
        if complained(store, wanted.email):
            log.info("sign-up of an address flagged for a complaint: no confirmation sent")
            return None
        return _codec(service.settings, store).make(wanted, now)


def _codec(settings: Settings, store: Store) -> ConfirmationCodec:
    previous = [k.get_secret_value().encode() for k in settings.previous_secret_keys]
    return ConfirmationCodec(secret_key(settings, store), settings.list_identifier, previous)


async def _mail(
    service: SignupService, kind: str, to: str, context: dict[str, Any], now: datetime
) -> bool:
    """Send notice ``kind`` to ``to`` through the configured transport; False (said on
    stderr) when it could not be handed over."""
    settings = service.settings
    try:
        templates = load_templates(settings.templates)
        info = list_info(settings)
        notice = render_notice(
            templates, kind, {"list": info, "hours": confirm_hours(settings), **context}
        )
        data = notice_bytes(
            settings.from_address, to, notice.subject, notice.text, notice.html,
            settings.from_domain, now, settings.reply_to, context.get("unsubscribe_url"),
        )  # fmt: skip
        data = signed(data, dkim_signer(settings, now))  # signed like the editions
        sender = parseaddr(settings.from_address)[1]
        connection = await notice_transport(settings).connect()
        try:
            outcome = await connection.send(Job(sender, to, "", data))
        finally:
            await connection.close()
    except (NewsletterError, ValueError, OSError) as exc:
        _say(f"{to}: {kind} message not sent: {exc}")
        return False
    if outcome.status is not DeliveryStatus.SENT:
        _say(f"{to}: {kind} message not sent: {outcome.code} {outcome.text}")
        return False
    return True


def notice_transport(settings: Settings) -> Transport:
    """The SMTP relay, else ``outbox/.notices/`` (a Maildir++ subfolder): notices kept apart
    from the editions, so an outbox holding only notices is no sign of a lost database.

    Raises:
        ConfigError: the outbox cannot be created.
    """
    if settings.smtp_url is not None:
        return transport(settings)
    try:
        mailbox.Maildir(settings.outbox, create=True).add_folder(NOTICES)
    except OSError as exc:
        raise ConfigError(f"{settings.outbox}: cannot create the outbox: {exc.strerror}") from None
    return MaildirTransport(settings.outbox / f".{NOTICES}")


# --- the confirmation link -----------------------------------------------------------


def _read_token(service: SignupService, token: str) -> Confirmation | None:
    with Store(service.settings.database) as store:
        return _codec(service.settings, store).read(token)


async def _confirmation(
    request: web.Request,
) -> tuple[Confirmation | None, web.Response | None]:
    """The link's confirmation, or the page to answer instead (invalid, expired, 503)."""
    service = request.app[_SERVICE]
    try:
        found = await service.run(_read_token, service, request.match_info["token"])
    except NewsletterError as exc:
        _say(f"confirmation not read: {exc}")
        return None, _page(service, "unavailable", 503, retry_after=300)
    if found is None:
        return None, _page(service, "invalid", 400)
    if found.expired(service.clock(), service.settings.confirm_hours):
        return None, _page(service, "expired", 410)
    return found, None


async def confirm_page(request: web.Request) -> web.Response:
    found, refusal = await _confirmation(request)
    if found is None:
        return refusal  # type: ignore[return-value]
    wanted = found.request
    return _page(
        request.app[_SERVICE], "confirm", masked=masked(wanted.email), chosen=wanted.sections
    )


async def confirm_post(request: web.Request) -> web.Response:
    service = request.app[_SERVICE]
    found, refusal = await _confirmation(request)
    if found is None:
        return refusal  # type: ignore[return-value]
    wanted, now = found.request, service.clock()
    ip = client_ip(request, service.settings.trusted_proxies)
    try:
        done = await service.run(_confirm, service, found, ip, now)
    except NewsletterError as exc:  # not recorded: never say it was
        _say(f"confirmation not recorded: {exc}")
        return _page(service, "unavailable", 503, retry_after=300)
    if done.outcome == "complaint":
        return _page(service, "complaint", 403)
    if done.outcome == "left since":
        return _page(service, "left", 409)
    if done.new and service.settings.welcome:
        await _welcome(service, wanted, now)
    return _page(
        service, "confirmed" if done.outcome == "subscribed" else "queued",
        masked=masked(wanted.email), chosen=wanted.sections,
    )  # fmt: skip


def _confirm(service: SignupService, found: Confirmation, ip: str, now: datetime) -> Confirmed:
    """``signup.confirm``; a CSV that cannot be rewritten now is the operator's problem,
    not the reader's: the consent is recorded and the next run that can writes the row."""
    try:
        return confirm(list_files(service.settings), found, ip, now)
    except InputError as exc:
        _say(f"{found.request.email}: sign-up recorded, list not updated yet: {exc}")
        return Confirmed("queued", True)


def _claim_welcome(service: SignupService, email: str, now: datetime) -> dict[str, Any] | None:
    """Claim the welcome message (once per consent) and its context; None when sent before."""
    settings = service.settings
    with Store(settings.database) as store:
        if not Consents(store).mark_welcomed(email, now):
            return None
        day = latest_edition_day(store)
        tokens = TokenCodec(secret_key(settings, store), settings.list_identifier)
    archive = list_info(settings).archive_url
    latest = f"{archive.rstrip('/')}/{day}.html" if archive and day else None
    unsubscribe = service.url(f"unsubscribe/{tokens.make(email)}")
    return {"latest_url": latest, "unsubscribe_url": unsubscribe}


async def _welcome(service: SignupService, wanted: SignupRequest, now: datetime) -> None:
    try:
        extra = await service.run(_claim_welcome, service, wanted.email, now)
    except NewsletterError as exc:
        _say(f"{wanted.email}: welcome message not sent: {exc}")
        return
    if extra is not None:
        context = {"email": wanted.email, "name": wanted.name, "sections": list(wanted.sections)}
        await _mail(service, "welcome", wanted.email, {**context, **extra}, now)

"""The job: collect → compose → render → personalize → deliver, wired over the adapters.

``run_send`` is what ``newsletter send`` (cron) and the daemon's scheduled job both call.
Time comes in as arguments (``now`` for the run, ``clock`` for ledger timestamps).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import random
import secrets
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from email.utils import parseaddr
from pathlib import Path

from .collect.folders import collect_sources, load_templates
from .delivery.relay import SmtpTarget, SmtpTransport
from .delivery.sender import Progress, Sender, count_rows
from .delivery.sendloop import MaildirTransport, Policy, SendLoop, Transport
from .delivery.throttle import RateLimiter, parse_limits
from .edition.compose import compose
from .edition.rendered import ListInfo, RenderedEdition
from .errors import InputError
from .mail.dkimkeys import dkim_signer
from .mail.personalize import MailContext, MessageTemplate, format_address
from .models import Article, RunSummary
from .settings.config import Settings
from .store.database import Store, StoredEdition
from .store.ledger import Ledger, recover
from .store.lock import run_lock
from .subscribers.changes import apply_pending, mark_bounced
from .subscribers.csvfile import subscriber_columns

log = logging.getLogger("newsletter")


@dataclass(frozen=True, slots=True)
class EditionPlan:
    """A composed (or frozen) edition, rendered, ready to personalize."""

    day: date
    number: int
    article_ids: tuple[str, ...]
    rendered: RenderedEdition
    stored: StoredEdition | None = None


async def collect(settings: Settings, store: Store, now: datetime) -> list[Article]:
    """Read every source and store the articles not seen before; return those."""
    if not any(spec.url and spec.enabled for spec in settings.sources):
        # Folders only: no need for the feed and HTTP stack (feedparser, httpx: ~20 MB).
        found = collect_sources(settings.sources, settings.zone)
        for problem in found.problems:
            _warn(problem)
        return store.add_articles(found.articles, now)
    from .collect import collector as collection

    return await collection.collect(settings, store, now, _warn)


def _warn(problem: str) -> None:
    log.warning("%s", problem)


def preview_articles(settings: Settings, store: Store | None, now: datetime) -> list[Article]:
    """What the sources would give a send now; records nothing."""
    from .collect import collector as collection

    return collection.preview_articles(settings, store, now, _warn)


def edition_day(settings: Settings, now: datetime, day: date | None) -> date:
    return day or now.astimezone(settings.zone).date()


def merge_fields(settings: Settings) -> list[str]:
    """The CSV's columns, which templates may use as ``subscriber.<column>``.

    Raises:
        InputError: the subscriber file is missing, unreadable or has no email column;
            checked before an edition is frozen, so a fixed file resumes cleanly.
    """
    return subscriber_columns(settings.subscribers)


def plan_edition(
    settings: Settings, articles: list[Article], day: date, number: int
) -> EditionPlan | None:
    """Compose and render an edition from articles not yet sent; None when there are none.

    Raises:
        TemplateError, EditionTooLarge, InputError: nothing has been recorded or sent.
    """
    edition = compose(
        articles,
        day=day,
        number=number,
        max_articles=settings.max_articles,
        section_order=settings.section_order,
    )
    if edition is None:
        return None
    from .edition.render import render_edition  # Jinja and premailer: only when rendering

    templates = load_templates(settings.templates)
    rendered = render_edition(edition, templates, list_info(settings), merge_fields(settings))
    return EditionPlan(day, number, tuple(a.id for a in edition.articles), rendered)


def list_info(settings: Settings) -> ListInfo:
    return ListInfo(
        name=settings.newsletter_name,
        postal_address=settings.postal_address,
        public_url=settings.public_url,
        unsubscribe_mailto=settings.unsubscribe_mailto or settings.from_email,
        language=settings.language,
        archive_url=settings.archive_url if settings.archive is not None else None,
        contact=parseaddr(settings.reply_to)[1] if settings.reply_to else settings.from_email,
    )


def frozen_or_new(settings: Settings, store: Store, day: date, now: datetime) -> EditionPlan | None:
    """The day's edition: the frozen one if it exists, else a new one composed and frozen."""
    stored = store.edition_for(day)
    if stored is not None:
        return plan_from(stored)
    plan = plan_edition(settings, store.unassigned_articles(), day, store.next_edition_number())
    if plan is None:
        return None
    stored = store.freeze_edition(
        day,
        plan.number,
        plan.rendered.subject,
        plan.article_ids,
        plan.rendered.to_json(),
        plan.rendered.fingerprint,
        now,
    )
    return EditionPlan(day, plan.number, plan.article_ids, plan.rendered, stored)


def plan_from(stored: StoredEdition) -> EditionPlan:
    """The plan of an edition frozen earlier: the same articles, the same rendered bytes."""
    rendered = RenderedEdition.from_json(stored.rendered)
    return EditionPlan(stored.day, stored.number, stored.article_ids, rendered, stored)


def secret_key(settings: Settings, store: Store | None) -> bytes:
    """The key that signs unsubscribe links: the setting, else one generated and kept in the
    database (so links keep working across runs without any configuration)."""
    if settings.secret_key is not None:
        return settings.secret_key.get_secret_value().encode()
    if store is None:
        return secrets.token_bytes(32)
    key = store.meta("secret_key")
    if key is None:
        key = secrets.token_hex(32)
        store.set_meta("secret_key", key)
    return key.encode()


def mail_context(
    settings: Settings, plan: EditionPlan, secret: bytes, now: datetime | None = None
) -> MailContext:
    """Raises: ConfigError (DKIM settings or key file)."""
    name, address = parseaddr(settings.from_address)
    return MailContext(
        from_address=format_address(name, address),
        list_id=settings.list_identifier,
        list_name=settings.newsletter_name,
        message_id_domain=settings.from_domain,
        unsubscribe_mailto=settings.unsubscribe_mailto or settings.from_email,
        public_url=settings.public_url,
        secret=secret,
        edition_tag=f"{plan.day:%Y%m%d}.{plan.number}",
        reply_to=settings.reply_to,
        dkim=dkim_signer(settings, now),  # issue 6
    )


def transport_for(settings: Settings) -> Transport:
    if settings.smtp_url is None:
        return MaildirTransport(settings.outbox)
    password = settings.smtp_password.get_secret_value() if settings.smtp_password else None
    target = SmtpTarget.from_url(
        settings.smtp_url,
        settings.smtp_username,
        password,
        timeout=settings.smtp_timeout,
        verify=settings.smtp_tls_verify,
    )
    return SmtpTransport(target, helo_name=settings.from_domain)


# --- send -----------------------------------------------------------------------------


def lock_path(settings: Settings) -> Path:
    return settings.database.with_name(settings.database.name + ".lock")


def run_send(
    settings: Settings,
    now: datetime,
    clock: Callable[[], datetime],
    day: date | None = None,
    progress: Progress | None = None,
    retry_only: bool = False,
) -> RunSummary:
    """The daily job, for the command line: ``send_edition`` in its own event loop, where
    SIGTERM and SIGINT stop it gracefully (in-flight messages finish and are recorded).

    Raises:
        as ``send_edition``.
    """

    async def main() -> RunSummary:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        return await send_edition(settings, now, clock, stop, day, progress, retry_only)

    return asyncio.run(main())


async def send_edition(
    settings: Settings,
    now: datetime,
    clock: Callable[[], datetime],
    stop: asyncio.Event,
    day: date | None = None,
    progress: Progress | None = None,
    retry_only: bool = False,
) -> RunSummary:
    """Under the lock: collect, compose or resume the day's edition, and deliver it to every
    active subscriber still owed it (``retry_only``: only to deferred ones).

    Raises:
        LockedError: another run holds the lock; nothing was done.
        ConfigError, InputError, TemplateError, EditionTooLarge: nothing was sent.
        RelayError: the relay cannot be used; nothing was recorded.
    """
    with run_lock(lock_path(settings)), Store(settings.database) as store:
        journal = settings.database.with_name(settings.database.name + ".journal")
        recover(store.db, journal)  # a killed run's last moves, before anything reads
        apply_unsubscribes(settings, store, now)
        if not retry_only:
            await collect(settings, store, now)
        summary = RunSummary(started=now, total=count_rows(settings.subscribers))
        the_day = edition_day(settings, now, day)
        from .edition.freeze import prepare_for_send  # it imports this module

        plan, variants = await prepare_for_send(
            settings, store, the_day, now, retry_only, summary.total or 0
        )
        if plan is None or plan.stored is None:
            summary.note = (
                f"no edition for {the_day}: nothing to retry"
                if retry_only
                else "no new articles since the last edition: nothing to send"
            )
            return summary
        summary.edition_key, summary.edition_number = plan.day, plan.number
        summary.in_doubt = store.in_doubt(plan.stored.id)
        template = MessageTemplate(
            plan.rendered, mail_context(settings, plan, secret_key(settings, store), now)
        )
        ledger = Ledger(store.db, journal)
        # Everything allocated so far (modules, templates, the edition) lives for the whole
        # run: keep the cyclic GC from rescanning it after every few thousand allocations.
        # Unfrozen after the run: the daemon sends day after day in one process, and what a
        # run leaves behind must become collectable again.
        gc.freeze()
        sender = Sender(
            store, ledger, plan.stored, template, settings.subscribers, settings.from_email,
            summary, clock, progress, retry_only, variants,
        )  # fmt: skip
        try:
            await _deliver(settings, store, sender, clock, stop)
        finally:
            ledger.close()
            gc.unfreeze()
        summary.finished = clock()
        if sender.bounced:  # 5.1.x: recorded, and written to the CSV (we hold the lock)
            _guarded(mark_bounced, settings, store, sender.bounced, summary.finished)
        apply_unsubscribes(settings, store, summary.finished)
        return summary


def apply_unsubscribes(settings: Settings, store: Store, now: datetime) -> None:
    """Write unsubscribes recorded while a send held the lock into the CSV (the caller holds
    the lock now). A failure is logged, not fatal: sends skip them all the same."""
    _guarded(apply_pending, settings, store, now)


def _guarded(update: Callable[..., None], *args: object) -> None:
    try:
        update(*args)
    except InputError as exc:
        log.warning("the subscriber list was not updated yet (next run retries): %s", exc)


async def _deliver(
    settings: Settings,
    store: Store,
    sender: Sender,
    clock: Callable[[], datetime],
    stop: asyncio.Event,
) -> None:
    loop = send_loop(settings, store, sender, clock)
    watcher = asyncio.create_task(_stop_on(stop, loop))
    try:
        await loop.run(sender.jobs(clock()))
    finally:
        watcher.cancel()
    sender.summary.stopped = loop.stop_reason or ""


def edition_to_send(
    settings: Settings, store: Store, day: date, now: datetime, retry_only: bool
) -> EditionPlan | None:
    """The day's frozen edition; unless ``retry_only``, a new one composed and frozen when
    there is none (None: no edition and no new articles).

    Raises:
        TemplateError, EditionTooLarge, InputError: nothing has been recorded.
    """
    if retry_only:
        stored = store.edition_for(day)
        return None if stored is None else plan_from(stored)
    return frozen_or_new(settings, store, day, now)


async def _stop_on(event: asyncio.Event, loop: SendLoop) -> None:
    await event.wait()
    loop.stop("stopped by a signal: messages in flight finished and were recorded")


def send_loop(
    settings: Settings, store: Store, hooks: Sender, clock: Callable[[], datetime]
) -> SendLoop:
    """The delivery loop as configured: transport, policy, rate limits (seeded with what
    the ledger sent within the longest window, so a daily limit holds across runs)."""
    limits = parse_limits(settings.rate_limit) if settings.rate_limit else []
    longest = max((lim.seconds for lim in limits if lim.seconds > 1), default=0)
    history: list[float] = []
    if longest:
        wall = clock().timestamp()
        offset = wall - time.monotonic()  # the ledger's wall-clock times -> monotonic
        history = [t - offset for t in store.sent_since(wall - longest)]
    policy = Policy(
        connections=1 if settings.smtp_url is None else settings.smtp_connections,
        messages_per_connection=settings.smtp_messages_per_connection,
        max_attempts=settings.max_attempts,
        backoff_unit=settings.retry_backoff,
        backoff_cap=settings.retry_backoff_max,
        pause_after_failures=settings.pause_after_failures,
        max_rate_wait=settings.max_rate_wait,
    )
    limiter = RateLimiter(limits, history)
    transport = transport_for(settings)
    return SendLoop(transport, policy, limiter, hooks, time.monotonic, random.Random())


def run_collect(settings: Settings, now: datetime) -> list[Article]:
    """Collect and store new articles, under the lock; compose and send nothing."""
    return asyncio.run(collect_locked(settings, now))


async def collect_locked(settings: Settings, now: datetime) -> list[Article]:
    """``run_collect`` for a running event loop (the daemon's collect schedule).

    Raises:
        LockedError: another run holds the lock; nothing was done.
    """
    with run_lock(lock_path(settings)), Store(settings.database) as store:
        return await collect(settings, store, now)

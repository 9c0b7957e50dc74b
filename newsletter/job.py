"""The daily job: collect → freeze (compose, render) → personalize → deliver.

``send_edition`` calls one function per step, in order; each turns the settings into the
plain values its stage takes (``settings.values``) and hands the next step what it needs.
``newsletter send`` (cron, through ``run_send``) and the daemon's scheduled job both call
it, under the same lock. Time comes in as arguments (``now`` for the run, ``clock`` for
ledger timestamps).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import random
import signal
import time
from collections.abc import Callable
from datetime import date, datetime

from .collect.folders import collect_sources
from .collect.plaintext import visible
from .collect.taken import Collection, store_articles
from .delivery.sender import Progress, Sender, count_rows
from .delivery.sendloop import SendLoop
from .delivery.throttle import RateLimiter
from .edition.freeze import prepare_for_send
from .edition.plan import EditionPlan
from .edition.variants import Variants
from .errors import InputError
from .mail.personalize import MessageTemplate
from .models import Article, RunSummary
from .settings import Settings, values
from .store.database import Store
from .store.ledger import Ledger, journal_path, recover
from .store.lock import lock_path, run_lock
from .subscribers.changes import apply_pending, mark_bounced

log = logging.getLogger("newsletter")
Clock = Callable[[], datetime]


def run_send(
    settings: Settings,
    now: datetime,
    clock: Clock,
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
    clock: Clock,
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
    with run_lock(lock_path(settings.database)), Store(settings.database) as store:
        recover(store.db, journal_path(store.path))  # a killed run's last moves, first
        apply_unsubscribes(settings, store, now)
        collection = None if retry_only else await collect(settings, store, now)
        summary = RunSummary(started=now, total=count_rows(settings.subscribers))
        if collection is not None:
            summary.collected = len(collection.articles)
            summary.not_taken = tuple(collection.not_taken)
        the_day = edition_day(settings, now, day)
        plan, variants = await freeze(settings, store, the_day, now, retry_only, summary.total)
        if plan is None or plan.stored is None:
            summary.note = _nothing_to_send(the_day, retry_only)
            return summary
        summary.edition_key, summary.edition_number = plan.day, plan.number
        summary.in_doubt = store.in_doubt(plan.stored.id)
        template = personalize(settings, store, plan, now)
        sender = Sender(
            store, Ledger(store.db, journal_path(store.path)), plan.stored, template,
            settings.subscribers, settings.from_email, summary, clock, progress, retry_only,
            variants,
        )  # fmt: skip
        await deliver(settings, store, sender, clock, stop)
        finish(settings, store, sender, clock())
        return summary


# --- the steps, in the order send_edition calls them -----------------------------------


def apply_unsubscribes(settings: Settings, store: Store, now: datetime) -> None:
    """Write unsubscribes recorded while a send held the lock into the CSV (the caller holds
    the lock now). A failure is logged, not fatal: sends skip them all the same."""
    _guarded(apply_pending, values.list_files(settings), store, now)


async def collect(settings: Settings, store: Store, now: datetime) -> Collection:
    """Read every source and store the articles not seen before; return those, with every
    item not taken and why."""
    config = values.collect_config(settings)
    if not any(spec.url and spec.enabled for spec in config.sources):
        # Folders only: no need for the feed and HTTP stack (feedparser, httpx: ~20 MB).
        found = collect_sources(config.sources, config.zone)
        for problem in found.problems:
            _warn(problem)
        return store_articles(store, found.articles, now)
    from .collect import collector

    return await collector.collect(config, store, now, _warn)


def edition_day(settings: Settings, now: datetime, day: date | None) -> date:
    """The edition's day: ``day``, else today in the configured time zone."""
    return day or now.astimezone(settings.zone).date()


async def freeze(
    settings: Settings,
    store: Store,
    day: date,
    now: datetime,
    retry_only: bool,
    rows: int | None,
) -> tuple[EditionPlan | None, Variants]:
    """The day's edition, frozen (composed and rendered when new), with its section
    variants, and published on the web archive.

    Raises:
        TemplateError, EditionTooLarge, InputError: nothing has been sent.
    """
    inputs, site = values.edition_inputs(settings), values.archive_site(settings)
    isolation = settings.render_isolation
    return await prepare_for_send(inputs, site, store, day, now, retry_only, rows or 0, isolation)


def personalize(
    settings: Settings, store: Store, plan: EditionPlan, now: datetime
) -> MessageTemplate:
    """The edition as a message template that personalises it per subscriber.

    Raises:
        ConfigError: the DKIM settings or key file.
    """
    secret = values.secret_key(settings, store)
    return MessageTemplate(plan.rendered, values.mail_context(settings, plan, secret, now))


async def deliver(
    settings: Settings, store: Store, sender: Sender, clock: Clock, stop: asyncio.Event
) -> None:
    """Send every message ``sender`` gives over the configured transport; stop gracefully
    when ``stop`` is set (in-flight messages finish and are recorded)."""
    # Everything allocated so far (modules, templates, the edition) lives for the whole
    # run: keep the cyclic GC from rescanning it after every few thousand allocations.
    # Unfrozen after the run: the daemon sends day after day in one process, and what a
    # run leaves behind must become collectable again.
    gc.freeze()
    try:
        loop = send_loop(settings, store, sender, clock)
        watcher = asyncio.create_task(_stop_on(stop, loop))
        try:
            await loop.run(sender.jobs(clock()))
        finally:
            watcher.cancel()
    finally:
        sender.ledger.close()
        gc.unfreeze()
    sender.summary.stopped = loop.stop_reason or ""


def send_loop(settings: Settings, store: Store, sender: Sender, clock: Clock) -> SendLoop:
    """The delivery loop as configured: transport, policy, rate limits (seeded with what
    the ledger sent within the longest window, so a daily limit holds across runs)."""
    limits = values.rate_limits(settings)
    longest = max((lim.seconds for lim in limits if lim.seconds > 1), default=0)
    history: list[float] = []
    if longest:
        wall = clock().timestamp()
        offset = wall - time.monotonic()  # the ledger's wall-clock times -> monotonic
        history = [t - offset for t in store.sent_since(wall - longest)]
    limiter = RateLimiter(limits, history)
    transport, policy = values.transport(settings), values.send_policy(settings)
    return SendLoop(transport, policy, limiter, sender, time.monotonic, random.Random())


async def _stop_on(event: asyncio.Event, loop: SendLoop) -> None:
    await event.wait()
    loop.stop("stopped by a signal: messages in flight finished and were recorded")


def finish(settings: Settings, store: Store, sender: Sender, now: datetime) -> None:
    """Close the run's summary; write the bounces it met (5.1.x replies, recorded) and the
    unsubscribes that came in meanwhile into the CSV (the caller holds the lock)."""
    sender.summary.finished = now
    if sender.bounced:
        _guarded(mark_bounced, values.list_files(settings), store, sender.bounced, now)
    apply_unsubscribes(settings, store, now)


def _nothing_to_send(day: date, retry_only: bool) -> str:
    if retry_only:
        return f"no edition for {day}: nothing to retry"
    return "no new articles since the last edition: nothing to send"


def _warn(problem: str) -> None:
    log.warning("%s", visible(problem))  # it may quote feed content: no terminal escapes


def _guarded(update: Callable[..., object], *args: object) -> None:
    try:
        update(*args)
    except InputError as exc:
        log.warning("the subscriber list was not updated yet (next run retries): %s", exc)


# --- collection alone (``newsletter collect``, the daemon's collect schedule) ----------


def run_collect(settings: Settings, now: datetime) -> Collection:
    """Collect and store new articles, under the lock; compose and send nothing. Returns
    them with every item not taken and why.

    Raises:
        LockedError: another run holds the lock; nothing was done.
    """
    return asyncio.run(_collect_under_lock(settings, now))


async def collect_locked(settings: Settings, now: datetime) -> list[Article]:
    """``run_collect`` for a running event loop (the daemon's collect schedule): the new
    articles.

    Raises:
        LockedError: another run holds the lock; nothing was done.
    """
    return (await _collect_under_lock(settings, now)).articles


async def _collect_under_lock(settings: Settings, now: datetime) -> Collection:
    with run_lock(lock_path(settings.database)), Store(settings.database) as store:
        return await collect(settings, store, now)

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
import os
import random
import signal
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path

from ..collect.folders import store_folders
from ..collect.taken import Collection
from ..delivery.proofs import ProofOrder, said, send_proofs
from ..delivery.sender import Progress, Sender, count_rows
from ..delivery.sendloop import SendLoop, describe
from ..delivery.throttle import RateLimiter
from ..edition import approval
from ..edition.freeze import prepare_for_send
from ..edition.plan import EditionPlan
from ..edition.variants import Variants
from ..errors import InputError, StoreError, visible
from ..mail.personalize import MessageTemplate
from ..mail.proof import proof_rendering
from ..models import RunSummary
from ..settings import Settings, values
from ..store.database import Store
from ..store.dbfile import refuse_lost_history
from ..store.ledger import Ledger, journal_path, recover
from ..store.lock import lock_path, run_lock
from ..store.reviews import Reviews
from ..subscribers.changes import apply_pending, mark_bounced

log = logging.getLogger("newsletter")
Clock = Callable[[], datetime]


def run_send(
    settings: Settings,
    now: datetime,
    clock: Clock,
    day: date | None = None,
    progress: Progress | None = None,
    retry_only: bool = False,
    proof_to: Sequence[str] = (),
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
        return await send_edition(settings, now, clock, stop, day, progress, retry_only, proof_to)

    return asyncio.run(main())


async def send_edition(
    settings: Settings,
    now: datetime,
    clock: Clock,
    stop: asyncio.Event,
    day: date | None = None,
    progress: Progress | None = None,
    retry_only: bool = False,
    proof_to: Sequence[str] = (),
) -> RunSummary:
    """Under the lock: collect, compose or resume the day's edition, and deliver it to every
    active subscriber still owed it (``retry_only``: only to deferred ones) once the
    approval gate lets it (else ``summary.waiting`` says why). With ``proof_to``, send the
    editors a proof of it instead (``summary.proofs``) and nobody on the list.

    Raises:
        LockedError: another run holds the lock; nothing was done.
        ConfigError, InputError, TemplateError, EditionTooLarge: nothing was sent.
        StoreError: the database cannot be written (read-only, full disk); nothing was
            sent. Once sending, such a failure stops the run instead (``deliver``).
        RelayError: the relay cannot be used; nothing was recorded.
    """
    for warning in values.run_warnings(settings):
        log.warning("%s", warning)
    with run_lock(lock_path(settings.database)), Store(settings.database) as store:
        check_store(settings, store)
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
        if proof_to:
            summary.proofs = await proof(settings, store, plan, proof_to, now)
            return summary
        summary.waiting = await gate(settings, store, plan, now)
        if summary.waiting:
            return summary
        template = personalize(settings, store, plan, now)
        sender = Sender(
            store, Ledger(store.db, journal_path(store.path)), plan.stored, template,
            settings.subscribers, settings.from_email, summary, clock, progress, retry_only,
            variants, values.retries(settings), envelope_senders(settings, store, plan),
        )  # fmt: skip
        await deliver(settings, store, sender, clock, stop)
        finish(settings, store, sender, clock())
        return summary


# --- the steps, in the order send_edition calls them -----------------------------------


def check_store(settings: Settings, store: Store) -> None:
    """Before a run changes anything: the database takes writes, and it is not a new one
    where the outbox or the web archive show editions an earlier database sent (a new
    database would send them all again, under a new unsubscribe key).

    Raises:
        StoreError: the database is read-only (or locked by another program).
        ConfigError: a new database where earlier editions were sent; the hint says how
            to start over on purpose.
    """
    store.check_writable()
    if store.has_editions():
        return
    traces = []
    if any(_entries(settings.outbox / "new")) or any(_entries(settings.outbox / "cur")):
        traces.append(settings.outbox)
    if settings.archive is not None and any(settings.archive.glob("????-??-??.html")):
        traces.append(settings.archive)
    refuse_lost_history(settings.database, traces, "has no edition")


def _entries(folder: Path) -> Iterator[os.DirEntry[str]]:
    try:
        with os.scandir(folder) as entries:
            yield from entries
    except OSError:
        return


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
        return store_folders(config.sources, config.zone, store, now, _warn)
    from ..collect import collector

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
    site = site if settings.approval == approval.NONE else None  # published once the gate opens
    isolation = settings.render_isolation
    return await prepare_for_send(inputs, site, store, day, now, retry_only, rows or 0, isolation)


async def gate(settings: Settings, store: Store, plan: EditionPlan, now: datetime) -> str:
    """Empty when the list may get the edition now (the ``approval`` setting), else why
    not and what to run; a version not shown to the editors yet is proofed to ``proof_to``
    first (a new edition, or one changed since its approval). Raises: as ``proof``."""
    if settings.approval == approval.NONE:
        return ""
    assert plan.stored is not None
    version, reviews = values.edition_fingerprint(settings, plan), Reviews(store)
    decisions = reviews.decisions(plan.stored.id)
    verdict = approval.verdict(settings.approval, plan.day, decisions, version)
    if verdict.may_send:
        if (site := values.archive_site(settings)) is not None:  # kept off until now
            from ..edition.archive import publish_edition  # Jinja and premailer

            publish_edition(site, values.edition_inputs(settings), store, plan.day, _warn)
        return ""
    seen = reviews.proof_sent(plan.stored.id, version)
    if verdict.wants_proof and settings.proof_to and not seen:
        sent = await proof(settings, store, plan, settings.proof_to, now)
        log.warning("proof of edition %s: %s", plan.day, said(sent))
    return verdict.reason


async def proof(
    settings: Settings, store: Store, plan: EditionPlan, to: Sequence[str], now: datetime
) -> dict[str, str]:
    """Send each editor in ``to`` a proof of the edition (``delivery.proofs``); return
    address → ``sent`` or what happened instead.

    Raises:
        RelayError (no proof was sent), ConfigError (DKIM), StoreError (not recorded).
    """
    assert plan.stored is not None
    version, secret = values.edition_fingerprint(settings, plan), values.secret_key(settings, store)
    # Its own Message-ID: a proof to an editor on the list must not pass for their copy.
    tag = f"{plan.tag}.proof{now:%H%M%S}"
    context = replace(values.mail_context(settings, plan, secret, now), edition_tag=tag)

    def template_for(editor: str) -> MessageTemplate:
        note = values.proof_note(settings, secret, plan, version, editor, now)
        return MessageTemplate(proof_rendering(plan.rendered, settings.language, note), context)

    envelope = settings.from_email
    order = ProofOrder(plan.stored.id, version, tuple(to), settings.subscribers, envelope)
    policy = replace(values.send_policy(settings), connections=1)
    return await send_proofs(store, order, template_for, values.transport(settings), policy, now)


def personalize(
    settings: Settings, store: Store, plan: EditionPlan, now: datetime
) -> MessageTemplate:
    """The edition as a message template that personalises it per subscriber.

    Raises:
        ConfigError: the DKIM settings or key file.
    """
    secret = values.secret_key(settings, store)
    return MessageTemplate(plan.rendered, values.mail_context(settings, plan, secret, now))


def envelope_senders(
    settings: Settings, store: Store, plan: EditionPlan
) -> Callable[[str, str], str] | None:
    """Each recipient's own envelope sender (VERP, with ``bounce_address``), else None:
    the From address for all."""
    tokens = values.bounce_tokens_of(settings, store)
    return None if tokens is None else tokens.sender_for(plan.number)


async def deliver(
    settings: Settings, store: Store, sender: Sender, clock: Clock, stop: asyncio.Event
) -> None:
    """Send every message ``sender`` gives over the configured transport; stop gracefully
    when ``stop`` is set (in-flight messages finish and are recorded). A failure on the way
    (the database cannot be written, a bug) stops it the same way; the summary says why.

    Raises:
        RelayError: the relay cannot be used at all; nothing was sent.
    """
    # Everything allocated so far (modules, templates, the edition) lives for the whole
    # run: keep the cyclic GC from rescanning it after every few thousand allocations.
    # Unfrozen after the run: the daemon sends day after day in one process, and what a
    # run leaves behind must become collectable again.
    gc.freeze()
    unrecorded: StoreError | None = None
    try:
        loop = send_loop(settings, store, sender, clock)
        watcher = asyncio.create_task(_stop_on(stop, loop))
        try:
            await loop.run(sender.jobs(clock()))
        finally:
            watcher.cancel()
    finally:
        try:
            sender.ledger.close()
        except StoreError as exc:  # the journal keeps it; the next run records it first
            unrecorded = exc
        gc.unfreeze()
    _report(loop.failure, unrecorded, journal_path(store.path))
    failed = unrecorded.message if unrecorded is not None else ""
    sender.summary.stopped = loop.stop_reason or failed
    sender.summary.throttled = loop.throttling()


def _report(failure: BaseException | None, unrecorded: StoreError | None, journal: Path) -> None:
    """Say on stderr why a send stopped early, or could not record all it did."""
    if isinstance(failure, StoreError):
        log.error("error: %s", failure)
    elif failure is not None:  # a bug: the traceback is for its report
        log.error("error: %s", describe(failure), exc_info=failure)
    if unrecorded is not None:
        if unrecorded is not failure:
            log.error("error: %s", unrecorded)
        log.error("the last deliveries are kept in %s and the next run records them first", journal)


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
        try:
            mark_bounced(values.list_files(settings), store, sender.bounced, now)
        except InputError as exc:  # recorded; the CSV follows at the next run
            log.warning("the subscriber list was not updated yet (next run retries): %s", exc)
        except StoreError as exc:
            log.warning(
                "%s; not recorded as bounced, so later editions would go to them again: %s",
                exc.message, ", ".join(sender.bounced),
            )  # fmt: skip
    apply_unsubscribes(settings, store, now)


def _nothing_to_send(day: date, retry_only: bool) -> str:
    if retry_only:
        return f"no edition for {day}: nothing to retry"
    return "no new articles since the last edition: nothing to send"


def _warn(problem: str) -> None:
    log.warning("%s", visible(problem))  # it may quote feed content: no terminal escapes


def _guarded(update: Callable[..., object], *args: object) -> None:
    """``update(*args)``; a list (or a database) that cannot be written now is reported,
    and the next run tries again."""
    try:
        update(*args)
    except (InputError, StoreError) as exc:
        log.warning("the subscriber list was not updated yet (next run retries): %s", exc)

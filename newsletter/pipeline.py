"""The job: collect → compose → render → personalize → deliver, wired over the adapters.

``run_send`` is what ``newsletter send`` (cron) and the daemon's scheduled job both call.
Time comes in as arguments (``now`` for the run, ``clock`` for ledger timestamps).
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from email.utils import format_datetime, parseaddr
from pathlib import Path

from .compose import compose
from .delivery import Job, MaildirTransport, SmtpTarget, SmtpTransport, Transport, deliver
from .errors import ConfigError, InputError
from .lock import run_lock
from .models import Article, DeliveryStatus, Outcome, RunSummary, Subscriber, SubscriberStatus
from .personalize import MailContext, MessageTemplate, format_address
from .render import ListInfo, RenderedEdition, check_size, render_edition
from .settings import Settings
from .sources import collect_sources, load_templates
from .store import Store, StoredEdition
from .subscribers import BadRow, read_subscribers, subscriber_columns
from .variants import FULL, Variants

Report = Callable[[str], None]  # where progress and problems are printed
BATCH = 500  # subscribers looked up in the ledger per query


@dataclass(frozen=True, slots=True)
class EditionPlan:
    """A composed (or frozen) edition, rendered, ready to personalize."""

    day: date
    number: int
    article_ids: tuple[str, ...]
    rendered: RenderedEdition
    stored: StoredEdition | None = None


def collect(settings: Settings, store: Store, now: datetime, report: Report) -> list[Article]:
    """Read every source and store the articles not seen before; return those."""
    found = collect_sources(settings.sources, settings.zone)
    for problem in found.problems:
        report(problem)
    return store.add_articles(found.articles, now)


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
        rendered = RenderedEdition.from_json(stored.rendered)
        return EditionPlan(day, stored.number, stored.article_ids, rendered, stored)
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


def mail_context(settings: Settings, plan: EditionPlan, secret: bytes) -> MailContext:
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


def run_send(
    settings: Settings,
    now: datetime,
    clock: Callable[[], datetime],
    report: Report,
    day: date | None = None,
) -> RunSummary:
    """The daily job: under the lock, collect, compose or resume the day's edition, and
    deliver it to every active subscriber still owed it.

    Raises:
        LockedError: another run holds the lock; nothing was done.
        ConfigError, InputError, TemplateError, EditionTooLarge: nothing was sent.
        RelayError: the relay cannot be used; nothing was recorded as sent.
    """
    import asyncio

    lock_path = settings.database.with_name(settings.database.name + ".lock")
    with run_lock(lock_path), Store(settings.database) as store:
        collect(settings, store, now, report)
        summary = RunSummary(started=now)
        plan = frozen_or_new(settings, store, edition_day(settings, now, day), now)
        if plan is None:
            summary.note = "no new articles since the last edition: nothing to send"
            return summary
        summary.edition_key, summary.edition_number = plan.day, plan.number
        assert plan.stored is not None
        summary.in_doubt = store.in_doubt(plan.stored.id)
        # --- design (#5): section variants frozen, the day's page on the web archive ---
        from .publishing import prepare_variants, publish_edition

        variants = prepare_variants(settings, store, plan)
        publish_edition(settings, store, plan, report)
        # --- end design ---
        template = MessageTemplate(
            plan.rendered, mail_context(settings, plan, secret_key(settings, store))
        )
        transport = transport_for(settings)
        sender = Sender(store, plan.stored, template, settings, summary, clock, report, variants)
        asyncio.run(
            deliver(
                sender.jobs(now), transport, _connections(settings), sender.on_start, sender.on_done
            )
        )
        summary.finished = clock()
        return summary


def _connections(settings: Settings) -> int:
    return 1 if settings.smtp_url is None else settings.smtp_connections


class Sender:
    """Feeds the send loop: which subscribers are owed the edition, and the ledger."""

    def __init__(
        self,
        store: Store,
        edition: StoredEdition,
        template: MessageTemplate,
        settings: Settings,
        summary: RunSummary,
        clock: Callable[[], datetime],
        report: Report,
        variants: Variants | None = None,
    ) -> None:
        self.store, self.edition, self.template = store, edition, template
        self.settings, self.summary, self.clock, self.report = settings, summary, clock, report
        self.sender = settings.from_email
        # design (#5): section variant key -> its MessageTemplate, built on first use
        self.variants = variants or Variants(())
        self.templates: dict[str, MessageTemplate] = {FULL: template}

    def template_for(self, subscriber: Subscriber) -> MessageTemplate | None:
        """The message for the subscriber's sections; None when none is in the edition."""
        key = self.variants.key_for(subscriber)
        if key is None:
            return None
        if key not in self.templates:
            if key not in self.variants.rendered:  # the CSV changed during the run
                self.report(f"{self.settings.subscribers}:{subscriber.line}: sections changed "
                            "during the send; the next run sends it")  # fmt: skip
                return None
            self.templates[key] = MessageTemplate(self.variants.rendered[key], self.template.ctx)
        return self.templates[key]

    async def jobs(self, now: datetime) -> AsyncIterator[Job]:
        date_header = format_datetime(now)
        for batch in _batches(self._active()):
            done = self.store.statuses(self.edition.id, [s.email for s in batch])
            for subscriber in batch:
                if done.get(subscriber.email) in (DeliveryStatus.SENT, DeliveryStatus.FAILED):
                    self.summary.already_sent += 1
                    continue
                template = self.template_for(subscriber)  # design (#5)
                if template is None:
                    self.summary.unmatched += 1
                    continue
                try:
                    msgid, data = template.build(subscriber, date_header)
                except ValueError as exc:
                    self.report(f"{self.settings.subscribers}:{subscriber.line}: {exc}; skipped")
                    self.summary.invalid += 1
                    continue
                yield Job(self.sender, subscriber.email, msgid, data)

    def _active(self) -> Iterator[Subscriber]:
        for row in read_subscribers(self.settings.subscribers):
            if isinstance(row, BadRow):
                self.report(f"{row}; skipped")
                self.summary.invalid += 1
            elif row.status is not SubscriberStatus.ACTIVE:
                self.summary.skipped += 1
            else:
                yield row

    def on_start(self, job: Job) -> None:
        self.store.begin_delivery(self.edition.id, job.recipient, job.message_id, self.clock())

    def on_done(self, job: Job, outcome: Outcome) -> None:
        self.store.finish_delivery(self.edition.id, job.recipient, outcome, self.clock())
        s = self.summary
        if outcome.status is DeliveryStatus.SENT:
            s.sent += 1
        elif outcome.status is DeliveryStatus.DEFERRED:
            s.deferred += 1
            self.report(f"{job.recipient}: deferred: {outcome.code or ''} {outcome.text}".strip())
        else:
            s.failed += 1
            s.bounced += outcome.bounced
            self.report(f"{job.recipient}: failed: {outcome.code} {outcome.text}")


def _batches(items: Iterator[Subscriber]) -> Iterator[list[Subscriber]]:
    batch: list[Subscriber] = []
    for item in items:
        batch.append(item)
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


# --- preview --------------------------------------------------------------------------

SAMPLE = Subscriber(email="reader@example.com", name="Sample Reader")


@dataclass(frozen=True, slots=True)
class PreviewFiles:
    html: Path
    text: Path
    eml: Path
    warning: str | None


def run_preview(
    settings: Settings, now: datetime, out_dir: Path, report: Report, day: date | None = None
) -> PreviewFiles | None:
    """Write the day's edition as HTML, text and .eml files; record and send nothing.

    Returns None when there is nothing to preview.

    Raises:
        ConfigError, InputError, TemplateError, EditionTooLarge.
    """
    import email
    import email.policy

    day = edition_day(settings, now, day)
    store = Store(settings.database) if settings.database.exists() else None
    try:
        plan = _preview_plan(settings, store, day, report)
        if plan is None:
            return None
        template = MessageTemplate(
            plan.rendered, mail_context(settings, plan, secret_key(settings, None))
        )
    finally:
        if store is not None:
            store.close()
    sample = Subscriber(SAMPLE.email, SAMPLE.name, fields=_sample_fields(settings))
    _, data = template.build(sample, format_datetime(now))
    message = email.message_from_bytes(data, policy=email.policy.default)
    parts = {
        part.get_content_type(): part.get_content().replace("\r\n", "\n")
        for part in message.iter_parts()  # type: ignore[attr-defined]
    }
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        paths = PreviewFiles(
            out_dir / f"{day}.html",
            out_dir / f"{day}.txt",
            out_dir / f"{day}.eml",
            check_size(plan.rendered),
        )
        paths.html.write_text(parts["text/html"], encoding="utf-8")
        paths.text.write_text(parts["text/plain"], encoding="utf-8")
        paths.eml.write_bytes(data)
    except OSError as exc:
        raise InputError(f"{out_dir}: cannot write the preview: {exc.strerror}") from None
    return paths


def _preview_plan(
    settings: Settings, store: Store | None, day: date, report: Report
) -> EditionPlan | None:
    if store is not None and (stored := store.edition_for(day)) is not None:
        rendered = RenderedEdition.from_json(stored.rendered)
        return EditionPlan(day, stored.number, stored.article_ids, rendered, stored)
    found = collect_sources(settings.sources, settings.zone)
    for problem in found.problems:
        report(problem)
    articles = {a.id: a for a in found.articles}
    number = 1
    if store is not None:  # what a send would take: nothing already in an edition
        for taken in store.in_editions(list(articles)):
            del articles[taken]
        articles.update({a.id: a for a in store.unassigned_articles()})
        number = store.next_edition_number()
    return plan_edition(settings, list(articles.values()), day, number)


def _sample_fields(settings: Settings) -> dict[str, str]:
    fields = {name: f"[{name}]" for name in merge_fields(settings)}
    fields.update(email=SAMPLE.email, name=SAMPLE.name)
    return fields


def run_collect(settings: Settings, now: datetime, report: Report) -> list[Article]:
    """Collect and store new articles, under the lock; compose and send nothing."""
    lock_path = settings.database.with_name(settings.database.name + ".lock")
    with run_lock(lock_path), Store(settings.database) as store:
        return collect(settings, store, now, report)


__all__ = ["ConfigError", "run_collect", "run_preview", "run_send"]

"""The send's bookkeeping: who is owed the edition, and the ledger moves.

``Sender.jobs`` streams the subscriber CSV in batches, asks the ledger which of each batch
already have the edition and the database which of them left (an unsubscribe or bounce on
record wins over an active row in the CSV), and personalises a message for each of the
others. Rows it cannot use are named (``file:line: reason; skipped``) and counted as
invalid: lines that are not UTF-8 before the first message. The ledger moves only in
``on_start`` (the message is about to be handed over: ``pending``, committed) and
``on_done`` (the relay answered) — never when a batch is read.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

from ..edition.variants import FULL, Variants
from ..mail.personalize import MessageTemplate
from ..models import DeliveryStatus, Job, Outcome, RunSummary, Subscriber, SubscriberStatus
from ..store.database import Store, StoredEdition
from ..store.deliveries import RetryState
from ..store.ledger import Ledger
from ..store.suppressions import Left, Suppressions
from ..subscribers.consent import describe
from ..subscribers.csvfile import BadRow, encoding_problems, read_subscribers

log = logging.getLogger("newsletter")
BATCH = 500  # subscribers looked up in the ledger and the suppressions per query
DONE = frozenset({DeliveryStatus.SENT.value, DeliveryStatus.FAILED.value})
RETRYABLE = frozenset({DeliveryStatus.DEFERRED.value, DeliveryStatus.PENDING.value})
Progress = Callable[[RunSummary], None]


@dataclass(frozen=True, slots=True)
class Retries:
    """What a run does with earlier runs' unfinished deliveries (from the settings)."""

    hold_in_doubt: bool = False  # in_doubt = "hold": only --retry-deferred resends them
    max_deferred_days: float = 3.0  # then a deferred delivery is failed with its last reply


class Sender:
    """Feeds the send loop and records what the relay answered."""

    def __init__(
        self,
        store: Store,
        ledger: Ledger,
        edition: StoredEdition,
        template: MessageTemplate,
        subscribers: Path,
        envelope_from: str,
        summary: RunSummary,
        clock: Callable[[], datetime],
        progress: Progress | None = None,
        retry_only: bool = False,
        variants: Variants | None = None,
        retries: Retries | None = None,
        envelope_for: Callable[[str, str], str] | None = None,
    ) -> None:
        self.store, self.ledger, self.edition, self.template = store, ledger, edition, template
        self.subscribers, self.envelope_from = subscribers, envelope_from
        # (address, Message-ID) -> its own envelope sender (VERP, ``mail.verp``); None:
        # envelope_from
        self.envelope_for = envelope_for
        self.summary, self.clock, self.progress = summary, clock, progress
        self.retry_only = retry_only
        self.retries = retries or Retries()
        self.bounced: list[str] = []
        # Section preferences: variant key -> its MessageTemplate, built on first use.
        self.variants = variants or Variants(())
        self.templates: dict[str, MessageTemplate] = {FULL: template}
        self.unsubscribes = Suppressions(store)
        self._reported: set[str] = set()  # file:line of rows named before the first message
        self._left_in_csv: dict[str, str] = {}  # opt-outs only the CSV holds, to record

    async def jobs(self, now: datetime) -> AsyncIterator[Job]:
        """One job per active subscriber still owed the edition, in CSV order: first
        those never tried, then (a second pass over the list) the retries: deferred
        ones, and those in doubt unless ``Retries.hold_in_doubt`` (then only
        ``retry_only`` sends them). A delivery deferred for ``max_deferred_days`` is
        failed with its last reply instead."""
        date_header = format_datetime(now)
        self._report_encoding()
        retries: set[str] = set()
        for batch in _batches(self._active()):
            statuses = self.store.statuses(self.edition.id, [s.email for s in batch])
            for subscriber, record in self._with_records(batch):
                if record is not None:  # the record wins over the CSV
                    self._skip_left(subscriber, record)
                    continue
                status = statuses.get(subscriber.email)
                if status in DONE:
                    if status == DeliveryStatus.FAILED.value:
                        self.summary.already_failed += 1
                    else:
                        self.summary.already_sent += 1
                elif status in RETRYABLE:
                    if self._held(subscriber.email, status):
                        self.summary.in_doubt += 1
                    else:
                        retries.add(subscriber.email)
                elif not self.retry_only and (job := self._job(subscriber, date_header)):
                    yield job
        if retries:
            async for job in self._retries(retries, date_header, now):
                yield job

    async def _retries(
        self, retries: set[str], date_header: str, now: datetime
    ) -> AsyncIterator[Job]:
        """The second pass: jobs for the addresses in ``retries`` (taken from the set),
        with the ledger's word on each read again."""
        for batch in _batches(s for s in self._active(count=False) if s.email in retries):
            earlier = self.store.retry_states(self.edition.id, [s.email for s in batch])
            for subscriber, record in self._with_records(batch):
                retries.discard(subscriber.email)  # a duplicate row: the first one only
                state = earlier.get(subscriber.email)
                if state is None or record is not None:
                    continue
                if self._expired(subscriber.email, state, now):
                    continue
                if state.status == DeliveryStatus.PENDING.value:
                    self.summary.resent += 1
                    log.warning(
                        "%s: in doubt since an earlier run (%s): sending again; it may "
                        "arrive twice", subscriber.email, state.text or "no reply",
                    )  # fmt: skip
                if job := self._job(subscriber, date_header):
                    yield job

    def _with_records(self, batch: list[Subscriber]) -> Iterator[tuple[Subscriber, Left | None]]:
        """Each subscriber of ``batch`` with its record of leaving, if any: one query per
        batch, asked again when another connection committed (an unsubscribe during the
        send, ``Suppressions.changed``)."""
        emails = [s.email for s in batch]
        left = self.unsubscribes.lookup(emails)
        for subscriber in batch:
            if self.unsubscribes.changed():
                left = self.unsubscribes.lookup(emails)
            yield subscriber, left.get(subscriber.email.lower())

    def _held(self, email: str, status: str) -> bool:
        """An earlier run's in-doubt delivery that ``in_doubt = "hold"`` keeps back."""
        held = status == DeliveryStatus.PENDING.value and self.retries.hold_in_doubt
        if held and not self.retry_only:
            log.warning(
                "%s: in doubt (the relay may have it); held: in_doubt = \"hold\", "
                "`newsletter send --retry-deferred` sends it", email,
            )  # fmt: skip
            return True
        return False

    def _expired(self, email: str, state: RetryState, now: datetime) -> bool:
        """Fail a delivery deferred since ``max_deferred_days`` ago with its last reply."""
        days = self.retries.max_deferred_days
        if state.status != DeliveryStatus.DEFERRED.value or now - state.created < timedelta(
            days=days
        ):
            return False
        reply = f"{state.code or ''} {state.text or ''}".strip()
        outcome = Outcome(
            DeliveryStatus.FAILED, state.code,
            f"deferred for {days:g} days (max_deferred_days); last reply: {reply}",
        )  # fmt: skip
        job = Job(self.envelope_from, email, "", b"")
        self.on_done(job, outcome, True)
        return True

    def _job(self, subscriber: Subscriber, date_header: str) -> Job | None:
        """The subscriber's message, or None (counted) when it cannot be made."""
        template = self.template_for(subscriber)
        if template is None:
            self.summary.unmatched += 1
            return None
        try:
            msgid, data = template.build(subscriber, date_header)
        except ValueError as exc:  # a merge value the headers cannot carry
            reason = str(exc).rstrip(". ")
            log.warning("%s:%s: %s; skipped", self.subscribers, subscriber.line, reason)
            self.summary.invalid += 1
            return None
        envelope_for, email = self.envelope_for, subscriber.email
        envelope = envelope_for(email, msgid) if envelope_for else self.envelope_from
        return Job(envelope, subscriber.email, msgid, data, wire_ready=True)

    def _report_encoding(self) -> None:
        """Name every line that is not UTF-8 before the first message (one pass over the
        bytes); the stream skips those rows without naming them again."""
        for problem in encoding_problems(self.subscribers):
            log.warning("%s; skipped", problem)
            self._reported.add(problem.where)

    def _skip_left(self, subscriber: Subscriber, left: Left) -> None:
        self.summary.skipped += 1
        if left.applied:  # the CSV says active although they left: a restored row
            log.warning(
                "%s:%s: %s %s; skipped (see 'newsletter subscribers check')",
                self.subscribers, subscriber.line, subscriber.email, describe(left),
            )  # fmt: skip
        else:  # recorded during this send: the CSV is written when it ends
            log.info("%s: %s during the send; skipped", subscriber.email, left.status)

    def template_for(self, subscriber: Subscriber) -> MessageTemplate | None:
        """The message for the subscriber's sections; None when none is in the edition."""
        key = self.variants.key_for(subscriber)
        if key is None:
            return None
        if key not in self.templates:
            if key not in self.variants.rendered:  # the CSV changed during the run
                log.warning(
                    "%s:%s: sections changed during the send; the next run sends it",
                    self.subscribers, subscriber.line,
                )  # fmt: skip
                return None
            self.templates[key] = MessageTemplate(self.variants.rendered[key], self.template.ctx)
        return self.templates[key]

    def _active(self, count: bool = True) -> Iterator[Subscriber]:
        """The active rows; with ``count``, the others named and counted (the first pass)."""
        for row in read_subscribers(self.subscribers, self.summary.total or 0):
            if isinstance(row, BadRow):
                if count and row.where not in self._reported:
                    log.warning("%s; skipped", row)
                self.summary.invalid += count
            elif row.status is not SubscriberStatus.ACTIVE:
                self.summary.skipped += count
                if count:
                    self._left_in_csv[row.email] = row.status.value
                    if len(self._left_in_csv) >= BATCH:
                        self._remember_left()
            else:
                yield row
        self._remember_left()

    def _remember_left(self) -> None:
        """Record in the database the opt-outs the CSV holds (typed in by hand, or a row
        never recorded), so a row later put back as active, by hand or from a backup, is
        still skipped. Best effort: the send skips them either way this time, and a
        database that cannot take the write is reported by the ledger's own writes."""
        if not self._left_in_csv:
            return
        try:
            self.unsubscribes.remember(self._left_in_csv, "subscriber list", self.clock())
        except Exception as exc:  # never stop a send for this bookkeeping
            log.warning("opt-outs in the subscriber list not recorded yet: %s", exc)
        self._left_in_csv.clear()

    def on_start(self, job: Job) -> None:
        self.ledger.begin(self.edition.id, job.recipient, job.message_id, self.clock())

    def on_done(self, job: Job, outcome: Outcome, final: bool) -> None:
        self.ledger.finish(self.edition.id, job.recipient, outcome, self.clock())
        if not final:
            log.info("%s: %s; retrying", job.recipient, _reply(outcome))
            return
        s = self.summary
        if outcome.status is DeliveryStatus.SENT:
            s.sent += 1
        elif outcome.status is DeliveryStatus.DEFERRED:
            s.deferred += 1
            log.warning("%s: deferred: %s", job.recipient, _reply(outcome))
        elif outcome.status is DeliveryStatus.PENDING:  # lost after the hand-over
            s.in_doubt += 1
            log.warning("%s: %s", job.recipient, _reply(outcome))
        else:
            s.failed += 1
            if outcome.bounced:
                s.bounced += 1
                self.bounced.append(job.recipient)
            log.warning("%s: failed: %s", job.recipient, _reply(outcome))
        if self.progress is not None:
            self.progress(s)


def _reply(outcome: Outcome) -> str:
    # Built only when logged: most outcomes are a plain "250 accepted" nobody reads.
    return f"{outcome.code or ''} {outcome.text}".strip()


def _batches(items: Iterator[Subscriber]) -> Iterator[list[Subscriber]]:
    batch: list[Subscriber] = []
    for item in items:
        batch.append(item)
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def count_rows(path: Path) -> int | None:
    """About how many subscribers the CSV holds (its lines minus the header), for the
    progress bar's ETA; None if unreadable (read_subscribers reports that properly)."""
    try:
        with path.open("rb") as handle:
            lines = sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))
    except OSError:
        return None
    return max(0, lines - 1)

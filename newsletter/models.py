"""Plain data of the pipeline: no I/O, no clock, no settings.

Articles come out of ``collect`` (with the items it did not take: ``NotTaken``), editions
out of ``edition.compose``, subscribers out of ``subscribers.csvfile``; ``store`` persists
them and ``delivery`` moves messages (``Job``, ``Outcome``) and sums a run up
(``RunSummary``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum


@dataclass(frozen=True, slots=True)
class Article:
    """One article, whatever its source.

    ``id`` is stable: a feed entry's id/guid, else its link, else a hash of title and
    content; for article files the url from the front matter, else ``source:relative path``.
    ``published`` is aware and in UTC, or None when the source gave no usable date.
    ``image_width`` and ``image_height`` are the picture's own size in pixels, as
    collection measured it: both None when not measured (yet), so templates give a width
    only; both 0 when it is known there is no picture to show (a 404, not a picture: see
    ``image_missing``).
    """

    id: str
    source: str
    title: str
    section: str
    summary: str
    body: str = ""
    url: str | None = None
    author: str | None = None
    published: datetime | None = None
    image_url: str | None = None
    image_alt: str | None = None
    image_width: int | None = None
    image_height: int | None = None

    @property
    def image_missing(self) -> bool:
        """Whether the picture is known to be missing (measured: 404/410, not a picture),
        so an ``<img>`` would show a broken box."""
        return self.image_width == 0


class NotTakenReason(StrEnum):
    """Why a collection did not store an item (the words the summaries print)."""

    SEEN = "already seen"  # collected by an earlier run
    DUPLICATE = "duplicate"  # another source's item (or a feed listing it twice)
    OLD = "outside the first-run window"  # a feed's first run takes only recent items
    UNDATED = "undated on a first run"  # no readable date: archive, on a first run
    OVER_LIMIT = "over max_items"  # the source's max_items took the newest ones
    EMPTY = "no title or text"  # nothing to show a reader


@dataclass(frozen=True, slots=True)
class NotTaken:
    """An item a collection did not store, and why; ``link`` is its URL (or id)."""

    reason: NotTakenReason
    source: str
    title: str
    link: str | None = None


def not_taken_counts(items: Iterable[NotTaken]) -> str:
    """``"12 already seen, 1 no title or text"``: counts by reason, in ``NotTakenReason``'s
    order; empty when there are none."""
    counts = Counter(item.reason for item in items)
    return ", ".join(f"{counts[r]} {r.value}" for r in NotTakenReason if counts[r])


def collection_line(stored: int, not_taken: Iterable[NotTaken], separator: str = "; ") -> str:
    """What a collection did, as ``collect`` and a send's summary say it: ``"3 new articles
    stored; not taken: 12 already seen, 1 duplicate"`` (no "not taken" part when there is
    nothing to count)."""
    line = f"{stored} new article{'s' * (stored != 1)} stored"
    if counts := not_taken_counts(not_taken):
        line += f"{separator}not taken: {counts}"
    return line


@dataclass(frozen=True, slots=True)
class Section:
    """A named group of articles, in the order they appear in the edition."""

    name: str
    articles: tuple[Article, ...]


@dataclass(frozen=True, slots=True)
class Edition:
    """One day's edition: which articles, in which order. Pure data, composed once.

    ``key`` is the calendar day in the configured time zone (``YYYY-MM-DD``).
    """

    key: date
    number: int
    sections: tuple[Section, ...]

    @property
    def articles(self) -> tuple[Article, ...]:
        return tuple(a for s in self.sections for a in s.articles)

    @property
    def lead(self) -> Article:
        return self.sections[0].articles[0]


class SubscriberStatus(StrEnum):
    ACTIVE = "active"
    UNSUBSCRIBED = "unsubscribed"
    BOUNCED = "bounced"


@dataclass(frozen=True, slots=True)
class Subscriber:
    """A row of the subscriber CSV, validated.

    ``email`` is normalised (email-validator); ``fields`` holds every CSV column (including
    ``email`` and ``name``) as merge fields, with control characters already removed.
    ``line`` is the row's line number in its file, for messages.
    """

    email: str
    name: str = ""
    status: SubscriberStatus = SubscriberStatus.ACTIVE
    fields: Mapping[str, str] = field(default_factory=dict)
    line: int = 0


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # claimed by a run; if still pending later, the message is in doubt
    SENT = "sent"  # the relay (or the outbox) accepted the message
    DEFERRED = "deferred"  # a temporary failure; the next run retries
    FAILED = "failed"  # a permanent failure (5xx); never retried


@dataclass(frozen=True, slots=True)
class Job:
    """One message to submit: envelope and bytes."""

    sender: str
    recipient: str
    message_id: str
    data: bytes
    # True when ``data`` is already in SMTP wire form (CRLF lines, no line opening with
    # ".", a final CRLF), as personalize builds it: the relay then sends it untouched.
    wire_ready: bool = False


@dataclass(frozen=True, slots=True)
class Outcome:
    """What happened to one message: the ledger's next state and the relay's reply."""

    status: DeliveryStatus
    code: int | None = None
    text: str = ""
    bounced: bool = False  # a 5.1.x "no such user": stop mailing the address
    dropped: bool = False  # the connection is unusable: reconnect before the next message
    # A temporary refusal about this recipient only (RFC 3463 X.1.x, X.2.x, a mailbox's
    # X.3.x): the others go on, at full speed.
    recipient_only: bool = False
    throttle: bool = False  # the relay asks to slow down (421, X.7.x, "too much mail")


@dataclass(slots=True)
class RunSummary:
    """Counts a send prints at the end and returns to its caller."""

    edition_key: date | None = None
    edition_number: int | None = None
    sent: int = 0
    deferred: int = 0
    failed: int = 0
    bounced: int = 0
    skipped: int = 0  # subscribers not active (unsubscribed, bounced)
    already_sent: int = 0  # the ledger says an earlier run delivered it
    already_failed: int = 0  # the ledger says an earlier run failed it for good (not retried)
    invalid: int = 0  # CSV rows that could not be used
    # handed over without an answer (the connection was lost after the message, RFC 1047),
    # this run, plus earlier ones held (``in_doubt = "hold"``): the relay may have them
    in_doubt: int = 0
    resent: int = 0  # in doubt since an earlier run, sent again now: possible duplicates
    throttled: str = ""  # how the relay throttled the run, and the rate it allowed
    total: int | None = None  # rows in the subscriber file (an estimate, for the ETA)
    unmatched: int = 0  # chose sections of which none is in this edition: not sent
    started: datetime | None = None
    finished: datetime | None = None
    note: str = ""  # why nothing was sent, when nothing was
    collected: int = 0  # new articles the run's collection stored
    not_taken: tuple[NotTaken, ...] = ()  # items that collection did not store, and why
    stopped: str = ""  # why the run stopped before the end of the list (signal, pause...)
    waiting: str = ""  # why the list may not get the edition yet (the approval gate)
    proofs: dict[str, str] = field(default_factory=dict)  # editor -> "sent" or what happened

    @property
    def incomplete(self) -> bool:
        """Someone owed the edition did not get it: deferred, failed, a row of the list
        skipped as unusable (invalid), in doubt, or the run stopped early. The CLI exits 1."""
        return (
            self.deferred > 0 or self.failed > 0 or self.invalid > 0 or self.in_doubt > 0
            or bool(self.stopped)
        )  # fmt: skip

    @property
    def seconds(self) -> float:
        if self.started is None or self.finished is None:
            return 0.0
        return max(0.0, (self.finished - self.started).total_seconds())

    @property
    def rate(self) -> float:
        return self.sent / self.seconds if self.seconds else 0.0

"""One pass over the bounce mailbox: each report read, judged and moved out of the way,
and the list changed for the believed ones. The caller holds the run lock.

What a report does (``classify`` says what it is, ``verify`` whether to believe it):

- a hard bounce marks the address ``bounced`` at once;
- a soft bounce is counted; on ``soft_limit`` different editions the address is
  ``bounced`` (only recent ones count, since it last came back:
  ``BounceReports.soft_editions``);
- a complaint unsubscribes the address and records it as a complaint (the strongest
  record of who left: only an operator's ``subscribers add --resubscribe`` lifts it);
- auto-replies, unrecognised, forged or stray reports, reports about an address not on
  the list, too large or malformed ones change nobody; all but auto-replies are listed.

Every report is remembered by its Message-ID and a hash of its bytes before it is moved,
so a second run, or the same report delivered twice, changes nothing; another report
reusing a processed one's Message-ID is still read. The
records of who left are written first (a running send would skip them), then the CSV
(``subscribers.changes.apply_pending``).
"""

from __future__ import annotations

import email
import hashlib
import logging
from dataclasses import dataclass, field
from datetime import datetime
from email import errors
from email.message import Message
from email.parser import BytesParser
from email.policy import compat32

from ..mail.verp import BounceTokens
from ..models import SubscriberStatus
from ..store.bounces import COMPLAINT as COMPLAINT_REPORT
from ..store.bounces import SOFT_LIMIT, BounceReports, ReportRow
from ..store.database import Store
from ..store.suppressions import COMPLAINT, Suppressions
from ..subscribers.changes import ListFiles, apply_pending
from ..subscribers.edits import find_subscribers
from .classify import AUTOREPLY, HARD, SOFT, UNRECOGNISED, Verdict, classify
from .mailbox import Mailbox, Waiting
from .verify import Believed, believe

log = logging.getLogger("newsletter")
FORGED, NOT_LISTED = "forged", "not-listed"
_LEFT_AS = {HARD: "bounced", COMPLAINT_REPORT: "complained"}


@dataclass(frozen=True, slots=True)
class Listed:
    """A report that changed nobody and that a person may want to look at."""

    origin: str  # the mailbox's name for it: a file name, "UID 12"
    kind: str  # UNRECOGNISED, FORGED or NOT_LISTED
    why: str


@dataclass(slots=True)
class BounceSummary:
    """What one pass did, for the summary line and the listing."""

    hard: int = 0
    soft: int = 0
    complaints: int = 0
    autoreplies: int = 0
    unrecognised: int = 0
    forged: int = 0
    not_listed: int = 0
    duplicates: int = 0
    bounced: list[str] = field(default_factory=list)  # newly marked bounced
    unsubscribed: list[str] = field(default_factory=list)  # complaints
    listed: list[Listed] = field(default_factory=list)
    csv_updated: int = 0


@dataclass(slots=True)
class _Pending:
    """A believed report, waiting for the one pass over the CSV that says who is on it."""

    message: Waiting
    key: str
    believed: list[Believed]


class BounceRun:
    """Reads ``mailbox`` once and changes the list in ``files`` (see the module)."""

    def __init__(
        self,
        store: Store,
        files: ListFiles,
        tokens: BounceTokens | None,
        soft_limit: int,
        now: datetime,
    ) -> None:
        self.store, self.files, self.tokens = store, files, tokens
        self.soft_limit, self.now = soft_limit, now
        self.reports = BounceReports(store)
        self.left = Suppressions(store)
        self.summary = BounceSummary()
        self._keys: set[str] = set()

    def run(self, mailbox: Mailbox) -> BounceSummary:
        """Process every waiting message.

        Raises:
            MailboxError: the mailbox failed on the way (what was processed is recorded).
            InputError: the CSV cannot be read or rewritten (the records stay pending and
                the next run or send writes them).
        """
        pending: list[_Pending] = []
        for message in mailbox.messages():
            item = self._judge(message)
            if item is None:
                mailbox.done(message)
            else:
                pending.append(item)
        on_list = self._on_list({b.email for p in pending for b in p.believed})
        for item in pending:
            self._apply(item, on_list)
            mailbox.done(item.message)
        if self.summary.bounced or self.summary.unsubscribed:
            self.summary.csv_updated = apply_pending(self.files, self.store, self.now)
        return self.summary

    def _judge(self, message: Waiting) -> _Pending | None:
        """Record a report that changes nobody (returns None: it can be moved at once), or
        return a believed one for ``_apply``."""
        key = report_key(message.data)
        if key in self._keys or self.reports.seen(key):
            self.summary.duplicates += 1
            return None
        self._keys.add(key)
        if message.truncated:
            why = f"too large ({message.size / 1e6:.1f} MB): not read"
            return self._unbelieved(message, key, UNRECOGNISED, why)
        try:
            verdict = _verdict(message.data)
        except Exception as exc:
            why = f"malformed message ({type(exc).__name__}: {exc})"[:200]
            return self._unbelieved(message, key, UNRECOGNISED, why)
        if verdict.kind == AUTOREPLY:
            self.summary.autoreplies += 1
            self._record(message, key, AUTOREPLY, verdict.detail)
            return None
        if verdict.kind == UNRECOGNISED:
            return self._unbelieved(message, key, UNRECOGNISED, verdict.detail)
        if not verdict.failures and not verdict.message_ids and not verdict.envelope_senders:
            why = f"{verdict.format} {verdict.kind} report naming no recipient"
            return self._unbelieved(message, key, UNRECOGNISED, why)
        found = believe(verdict, self.reports, self.tokens)
        if not found:
            return self._unbelieved(message, key, FORGED, _forged(verdict))
        return _Pending(message, key, found)

    def _unbelieved(self, message: Waiting, key: str, kind: str, why: str) -> None:
        if kind == UNRECOGNISED:
            self.summary.unrecognised += 1
        elif kind == FORGED:
            self.summary.forged += 1
        else:
            self.summary.not_listed += 1
        self.summary.listed.append(Listed(message.origin, kind, why))
        self._record(message, key, kind, why)

    def _record(self, message: Waiting, key: str, kind: str, why: str) -> None:
        """Remember a report that changed nobody (one row, naming nobody)."""
        with self.store.transaction():
            self.reports.record([ReportRow(key, "", kind, None, why, message.origin)], self.now)

    def _apply(self, item: _Pending, on_list: set[str]) -> None:
        """Record the believed report and what it changes, in one transaction."""
        listed = [b for b in item.believed if b.email in on_list]
        if not listed:
            return self._not_listed(item)
        with self.store.transaction():
            self.reports.record(_rows(item, listed), self.now)
            for believed in listed:
                self._change(believed, item)
        return None

    def _not_listed(self, item: _Pending) -> None:
        """A believed report about an address no longer in the CSV: a hard bounce or a
        complaint is still recorded as who left (so an import or ``subscribers add`` of
        the address refuses it); only the CSV has nothing to rewrite."""
        who = ", ".join(b.email for b in item.believed)
        lasting = [b for b in item.believed if b.kind != SOFT]
        if not lasting:
            return self._unbelieved(item.message, item.key, NOT_LISTED, f"{who} is not on the list")
        self.summary.not_listed += 1
        recorded = ", ".join(f"{b.email} {_LEFT_AS[b.kind]}" for b in lasting)
        why = f"{who} is not on the list; recorded: {recorded}"
        self.summary.listed.append(Listed(item.message.origin, NOT_LISTED, why))
        with self.store.transaction():
            self.reports.record(_rows(item, lasting), self.now)
            for b in lasting:
                status = SubscriberStatus.BOUNCED.value if b.kind == HARD else COMPLAINT
                self.left.record(b.email, status, _source(status), self.now)
        return None

    def _change(self, b: Believed, item: _Pending) -> None:
        s = self.summary
        if b.kind == HARD:
            s.hard += 1
            self._leave(b.email, SubscriberStatus.BOUNCED.value, s.bounced)
        elif b.kind == SOFT:
            s.soft += 1
            editions = self.reports.soft_editions(b.email, self.now)
            if editions >= self.soft_limit:
                log.info("%s: soft bounces on %d editions: bounced", b.email, editions)
                why, origin = f"soft bounces on {editions} editions", item.message.origin
                # older soft bounces stop counting from here (a resubscribe starts afresh)
                row = ReportRow(f"{item.key} limit", b.email, SOFT_LIMIT, b.edition_id, why, origin)
                self.reports.record([row], self.now)
                self._leave(b.email, SubscriberStatus.BOUNCED.value, s.bounced)
        else:
            s.complaints += 1
            self._leave(b.email, COMPLAINT, s.unsubscribed)

    def _leave(self, email: str, status: str, names: list[str]) -> None:
        self.left.record(email, status, _source(status), self.now)
        names.append(email)

    def _on_list(self, emails: set[str]) -> set[str]:
        """Which of these addresses have a row in the CSV (one streaming pass)."""
        return set(find_subscribers(self.files.subscribers, emails))


def _rows(item: _Pending, believed: list[Believed]) -> list[ReportRow]:
    """The rows that record a believed report, one per recipient in ``believed``."""
    origin = item.message.origin
    return [ReportRow(item.key, b.email, b.kind, b.edition_id, b.detail, origin) for b in believed]


def _source(status: str) -> str:
    """Who recorded a record of who left, as ``suppressions`` names it."""
    return "complaint" if status == COMPLAINT else "bounce"


def report_key(data: bytes) -> str:
    """A report's identity: its own Message-ID and the SHA-256 of its bytes
    (``<id@host> sha256:<hex>``; the hash alone when it has no Message-ID). Both, because a
    Message-ID is only the sender's word: another report carrying a processed one's
    Message-ID, by mistake or on purpose, is read on its own."""
    head = BytesParser(policy=compat32).parsebytes(data, headersonly=True)
    message_id = " ".join(str(head.get("Message-ID", "")).split())
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    return f"{message_id} {digest}" if message_id else digest


# A multipart whose parts cannot be found: whatever a detector made of it would be a guess.
_BROKEN = (
    errors.StartBoundaryNotFoundDefect,
    errors.NoBoundaryInMultipartDefect,
    errors.MultipartInvariantViolationDefect,
)


def _verdict(data: bytes) -> Verdict:
    msg: Message = email.message_from_bytes(data, policy=compat32)
    broken = sorted({type(d).__name__ for d in msg.defects if isinstance(d, _BROKEN)})
    if broken:
        return Verdict(UNRECOGNISED, detail=f"malformed MIME ({', '.join(broken)})")
    return classify(msg)


def _forged(verdict: Verdict) -> str:
    named = ", ".join(f.email for f in verdict.failures) or "nobody"
    return (
        f"{verdict.format} {verdict.kind} report about {named}, without a bounce token or "
        "Message-ID of a message this list sent"
    )


def summary_line(s: BounceSummary) -> str:
    """``bounces: 2 hard bounces, 1 soft bounce, 1 complaint, 1 auto-reply ignored, 0
    unrecognised, 0 forged or stray`` (then the rarer counts when there are any)."""
    parts = [
        _count(s.hard, "hard bounce"),
        _count(s.soft, "soft bounce"),
        _count(s.complaints, "complaint"),
        _count(s.autoreplies, "auto-reply", "auto-replies") + " ignored",
        f"{s.unrecognised} unrecognised",
        f"{s.forged} forged or stray",
    ]
    if s.not_listed:
        parts.append(f"{s.not_listed} not on the list")
    if s.duplicates:
        parts.append(f"{s.duplicates} already processed")
    changed = len(s.bounced) + len(s.unsubscribed)
    tail = f"; {_count(changed, 'subscriber')} left the list" if changed else ""
    return "bounces: " + ", ".join(parts) + tail


def _count(count: int, noun: str, plural: str | None = None) -> str:
    return f"{count} {noun if count == 1 else plural or noun + 's'}"

"""Bounce and complaint reports read from the bounce mailbox (migration 10).

Each report is remembered by its own key (its Message-ID and a hash of its bytes), one
row per recipient it is about, so a report read twice, or delivered twice, changes
nothing. ``kind`` is ``hard``, ``soft`` or ``complaint`` for a believed report, else the
reason it changed nobody (``autoreply``, ``unrecognised``, ``forged``, ``not-listed``).
Also the ledger lookups that tie a report to a message this list sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from .database import Store, timestamp

HARD, SOFT, COMPLAINT = "hard", "soft", "complaint"
BELIEVED = (HARD, SOFT, COMPLAINT)
# The row recorded when soft bounces reached the limit and the address was bounced.
SOFT_LIMIT = "soft-limit"
SOFT_WINDOW = timedelta(days=30)  # older soft bounces no longer count


@dataclass(frozen=True, slots=True)
class ReportRow:
    """One recipient's line of a report, as recorded."""

    report: str  # "<its Message-ID> sha256:<hex of its bytes>", or the hash alone
    email: str  # lower-cased; "" when the report names nobody we could believe
    kind: str
    edition_id: int | None
    detail: str  # the status code and diagnostic, or why it changed nobody
    origin: str  # the mailbox's name for it: a file name, "UID 12"


class BounceReports:
    """The ``bounce_reports`` table and the ledger lookups, over a Store's connection."""

    def __init__(self, store: Store) -> None:
        self.db = store.db
        self._editions: dict[int, int | None] = {}

    def seen(self, report: str) -> bool:
        """Whether a report with this key was processed before."""
        row = self.db.execute(
            "SELECT 1 FROM bounce_reports WHERE report = ? LIMIT 1", (report,)
        ).fetchone()
        return row is not None

    def record(self, rows: list[ReportRow], now: datetime) -> None:
        """Remember a report's rows (a repeat of a row is ignored); not committed here."""
        self.db.executemany(
            "INSERT INTO bounce_reports (report, email, kind, edition_id, detail, origin,"
            " received_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            [
                (r.report, r.email.lower(), r.kind, r.edition_id, r.detail, r.origin,
                 timestamp(now))
                for r in rows
            ],
        )  # fmt: skip

    def soft_editions(self, email: str, now: datetime) -> int:
        """On how many different editions this address bounced softly lately: reports
        received in the last ``SOFT_WINDOW`` (30 days), after its latest web sign-up
        confirmation, and about editions after the one on which it last left by a report
        (a hard bounce, a complaint, or ``SOFT_LIMIT``: the soft limit reached), so an
        address resubscribed is not bounced again by one new soft bounce."""
        since = timestamp(now - SOFT_WINDOW)
        row = self.db.execute(
            "SELECT COUNT(DISTINCT edition_id) FROM bounce_reports"
            " WHERE email = ?1 AND kind = 'soft' AND edition_id IS NOT NULL"
            " AND received_at >= ?2"
            " AND received_at >= COALESCE((SELECT confirmed_at FROM consents"
            " WHERE email = ?1), '')"
            " AND edition_id > COALESCE((SELECT MAX(edition_id) FROM bounce_reports"
            " WHERE email = ?1 AND kind IN ('hard', 'complaint', 'soft-limit')), 0)",
            (email.lower(), since),
        ).fetchone()
        return int(row[0])

    # --- per edition, for ``status`` ---
    def counts(self) -> dict[int, dict[str, int]]:
        """edition id -> believed kind -> how many addresses (each counted once)."""
        rows = self.db.execute(
            "SELECT edition_id, kind, COUNT(DISTINCT email) FROM bounce_reports"
            " WHERE edition_id IS NOT NULL AND kind IN ('hard', 'soft', 'complaint')"
            " GROUP BY edition_id, kind"
        )
        found: dict[int, dict[str, int]] = {}
        for edition_id, kind, count in rows:
            found.setdefault(edition_id, {})[kind] = count
        return found

    def of_edition(self, edition_id: int) -> dict[str, str]:
        """address -> its strongest believed report on this edition (complaint, hard, soft)."""
        rows = self.db.execute(
            "SELECT email, kind FROM bounce_reports WHERE edition_id = ?"
            " AND kind IN ('hard', 'soft', 'complaint')",
            (edition_id,),
        )
        found: dict[str, str] = {}
        for email, kind in rows:
            if email not in found or _rank(kind) > _rank(found[email]):
                found[email] = kind
        return found

    # --- the ledger: did this list send that message to that address? ---
    def edition_id(self, number: int) -> int | None:
        """The id of the edition with this running number."""
        if number not in self._editions:
            row = self.db.execute("SELECT id FROM editions WHERE number = ?", (number,)).fetchone()
            self._editions[number] = int(row[0]) if row else None
        return self._editions[number]

    def sent_message(self, edition_id: int, message_id: str) -> str | None:
        """The address the ledger recorded this Message-ID for, in this edition (one
        lookup of the ``deliveries_message_id`` index, migration 11)."""
        row = self.db.execute(
            # "+": never the primary key's edition_id range (a scan of the edition)
            "SELECT email FROM deliveries WHERE message_id = ? AND +edition_id = ?",
            (message_id, edition_id),
        ).fetchone()
        return row[0] if row else None

    def located(self, number: int, locator: str) -> list[str]:
        """The addresses of edition ``number`` whose Message-ID code starts with the hex
        digits ``locator`` (a bounce token's, ``mail.verp``): a range of the
        ``deliveries_message_id`` index, one row but for a rare collision."""
        row = self.db.execute("SELECT id, day FROM editions WHERE number = ?", (number,))
        edition = row.fetchone()
        if edition is None:
            return []
        prefix = f"<{edition[1].replace('-', '')}.{number}.{locator}"
        rows = self.db.execute(
            "SELECT email FROM deliveries WHERE message_id >= ? AND message_id < ?"
            " AND +edition_id = ?",  # "+": as in sent_message
            (prefix, prefix + "~", edition[0]),  # "~" sorts after every hex digit and "@"
        )
        return [email for (email,) in rows]


def _rank(kind: str) -> int:
    return {SOFT: 0, HARD: 1, COMPLAINT: 2}[kind]

"""Who left: unsubscribes and bounces recorded in the database.

The record is the authority on consent: a send skips every address in it whatever the
subscriber CSV says (a row put back by hand or from a backup), ``subscribers add`` and
imports refuse it, and only ``forget`` (their renewed consent) lifts it. Records are also
written into the CSV (which is only rewritten under the run lock): ``pending`` until then.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from .database import Store, timestamp

# A spam complaint (a feedback-loop report): the strongest record. The sign-up form never
# lifts it (only an operator's ``subscribers add --resubscribe`` does); the CSV says
# ``unsubscribed`` for it.
COMPLAINT = "complaint"


@dataclass(frozen=True, slots=True)
class Left:
    """One address's record: ``status`` unsubscribed, bounced or complaint, ``source`` who
    recorded it (``command line``, ``web``, ``bounce``, ``import FILE``), ``since`` when
    (ISO 8601, UTC), ``applied`` whether the CSV says so yet."""

    status: str
    source: str
    since: str
    applied: bool

    @property
    def day(self) -> str:
        return self.since[:10]


class Suppressions:
    """The ``suppressions`` table over a Store's connection.

    An unsubscribe is recorded here at once (one small indexed write); the CSV is rewritten
    later under the run lock (``mark_applied``). A running send asks ``lookup`` per batch
    and ``changed`` per message (``PRAGMA data_version`` every 8th call: it moves when
    another connection commits), so an unsubscribe stops mail within a few messages.
    """

    LOOK_EVERY = 8

    def __init__(self, store: Store) -> None:
        self.db = store.db
        self._version = self._data_version()
        self._calls = 0

    def _data_version(self) -> int:
        return int(self.db.execute("PRAGMA data_version").fetchone()[0])

    def record(self, email: str, status: str, source: str, now: datetime) -> bool:
        """Record an unsubscribe (or bounce) to apply to the CSV; False when the address was
        recorded before (it is applied again: the CSV may have been edited by hand since).
        An unsubscribe is never downgraded to a bounce, nor a complaint to anything."""
        known = self.known(email)
        self.db.execute(
            "INSERT INTO suppressions (email, status, source, created_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT(email) DO UPDATE SET applied_at = NULL, status = CASE"
            " WHEN 'complaint' IN (suppressions.status, excluded.status) THEN 'complaint'"
            " WHEN suppressions.status = 'unsubscribed' THEN 'unsubscribed'"
            " ELSE excluded.status END",
            (email.lower(), str(status), source, timestamp(now)),
        )
        return not known

    def pending(self) -> dict[str, str]:
        """Recorded but not yet applied to the CSV: address -> status."""
        rows = self.db.execute("SELECT email, status FROM suppressions WHERE applied_at IS NULL")
        return dict(rows.fetchall())

    def changed(self) -> bool:
        """True when another connection committed since the last look (or construction).

        Looks once every ``LOOK_EVERY`` calls: the pragma costs ~5-13 µs, and the send
        loop already queues a few messages ahead (4 per SMTP connection) anyway.
        """
        self._calls += 1
        if self._calls % self.LOOK_EVERY:
            return False
        version = self._data_version()
        changed, self._version = version != self._version, version
        return changed

    def mark_applied(self, emails: Iterable[str], now: datetime) -> None:
        self.db.execute(
            "UPDATE suppressions SET applied_at = ?"
            " WHERE email IN (SELECT value FROM json_each(?))",
            (timestamp(now), json.dumps([e.lower() for e in emails])),
        )

    def lookup(self, emails: Sequence[str]) -> dict[str, Left]:
        """The records of these addresses (lower-cased keys), in one query: a send asks once
        per batch of subscribers (primary-key lookups, ~1 µs an address)."""
        rows = self.db.execute(
            "SELECT email, status, source, created_at, applied_at IS NOT NULL FROM suppressions"
            " WHERE email IN (SELECT value FROM json_each(?))",
            (json.dumps([e.lower() for e in emails]),),
        )
        return {row[0]: Left(row[1], row[2], row[3], bool(row[4])) for row in rows}

    def remember(self, statuses: Mapping[str, str], source: str, now: datetime) -> None:
        """Record opt-outs the CSV already holds (an import's, a removed row's), as applied.
        A record that exists is kept as it is."""
        at = timestamp(now)
        self.db.executemany(
            "INSERT INTO suppressions (email, status, source, created_at, applied_at)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT(email) DO NOTHING",
            [(email.lower(), str(status), source, at, at) for email, status in statuses.items()],
        )

    def record_of(self, email: str) -> Left | None:
        """This address's record, or None when it never left (or came back)."""
        return self.lookup([email]).get(email.lower())

    def known(self, email: str) -> bool:
        """Whether this address unsubscribed or bounced (applied or not): imports never
        re-add it."""
        row = self.db.execute(
            "SELECT 1 FROM suppressions WHERE email = ?",
            (email.lower(),),
        ).fetchone()
        return row is not None

    def forget(self, email: str) -> None:
        """They asked to be back (``subscribers add --resubscribe``)."""
        self.db.execute("DELETE FROM suppressions WHERE email = ?", (email.lower(),))

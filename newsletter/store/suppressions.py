"""Who left: unsubscribes and bounces recorded in the database, waiting to be written into
the subscriber CSV (which is only rewritten under the run lock)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime

from .database import Store, timestamp


class Suppressions:
    """The ``suppressions`` table over a Store's connection.

    An unsubscribe is recorded here at once (one small indexed write); the CSV is rewritten
    later under the run lock (``mark_applied``). A running send asks ``pending`` per batch
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
        An unsubscribe is never downgraded to a bounce."""
        known = self.known(email)
        self.db.execute(
            "INSERT INTO suppressions (email, status, source, created_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT(email) DO UPDATE SET applied_at = NULL, status = CASE"
            " WHEN suppressions.status = 'unsubscribed' THEN 'unsubscribed'"
            " ELSE excluded.status END",
            (email.lower(), str(status), source, timestamp(now)),
        )
        return not known

    def pending(self, emails: Sequence[str] | None = None) -> dict[str, str]:
        """Recorded but not yet applied to the CSV: address -> status (all, or of these)."""
        if emails is None:
            rows = self.db.execute(
                "SELECT email, status FROM suppressions WHERE applied_at IS NULL"
            )
        else:
            rows = self.db.execute(
                "SELECT email, status FROM suppressions WHERE applied_at IS NULL"
                " AND email IN (SELECT value FROM json_each(?))",
                (json.dumps([e.lower() for e in emails]),),
            )
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

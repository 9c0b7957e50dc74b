"""Who joined: confirmed sign-ups, and the recent sign-up requests rate limits count.

A confirmed sign-up is recorded here at once (``Consents.record``): when the confirmation
was asked for and given, from which IP address, and the name and fields to write. Like an
unsubscribe it reaches the CSV under the run lock (``pending``, ``mark_applied``), right
away when no send holds it, else when the send ends. The record stays: it is the proof of
consent that ``subscribers list --consent`` shows.

``Requests`` counts sign-up requests per key (``address:<email>``, ``ip:<address>``) over
rolling windows; rows older than a day are deleted as new ones come, so the table holds
no more than a day of requests.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from .database import Store, timestamp

KEEP_REQUESTS = timedelta(days=1)  # the longest window a limit counts over


@dataclass(frozen=True, slots=True)
class Consent:
    """One address's consent (``email`` as the reader wrote it): ``requested_at`` when the
    confirmation link was issued, ``confirmed_at`` when it was pressed (ISO 8601, UTC),
    ``ip`` from where, ``source`` how (``web form``), ``applied`` whether the CSV has the
    row yet, ``welcomed`` whether the welcome message went."""

    email: str
    name: str
    fields: dict[str, str] = field(default_factory=dict)
    requested_at: str = ""
    confirmed_at: str = ""
    ip: str = ""
    source: str = ""
    applied: bool = False
    welcomed: bool = False


class Consents:
    """The ``consents`` table over a Store's connection (autocommit: each call commits)."""

    def __init__(self, store: Store) -> None:
        self.db = store.db

    def record(
        self,
        email: str,
        name: str,
        fields: Mapping[str, str],
        requested: datetime,
        confirmed: datetime,
        ip: str,
        source: str,
    ) -> bool:
        """Record a confirmation, to apply to the CSV; False when this same request (its
        ``requested`` time) was confirmed before: confirming twice changes nothing. A newer
        request replaces the record (and is applied and welcomed again)."""
        cursor = self.db.execute(
            "INSERT INTO consents"
            " (email, address, name, fields, requested_at, confirmed_at, ip, source)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(email) DO UPDATE SET"
            " address = excluded.address, name = excluded.name, fields = excluded.fields,"
            " requested_at = excluded.requested_at, confirmed_at = excluded.confirmed_at,"
            " ip = excluded.ip, source = excluded.source, applied_at = NULL, welcomed_at = NULL"
            " WHERE excluded.requested_at > consents.requested_at",
            (
                email.lower(),
                email,
                name,
                json.dumps(dict(fields)),
                timestamp(requested),
                timestamp(confirmed),
                ip,
                source,
            ),
        )
        return cursor.rowcount > 0

    def pending(self) -> list[Consent]:
        """Confirmed but not yet written into the CSV, oldest first."""
        rows = self.db.execute(
            "SELECT address, name, fields, requested_at, confirmed_at, ip, source"
            " FROM consents WHERE applied_at IS NULL ORDER BY confirmed_at"
        )
        return [Consent(r[0], r[1], json.loads(r[2]), *r[3:]) for r in rows]

    def mark_applied(self, emails: Sequence[str], now: datetime) -> None:
        self.db.execute(
            "UPDATE consents SET applied_at = ? WHERE email IN (SELECT value FROM json_each(?))",
            (timestamp(now), json.dumps([e.lower() for e in emails])),
        )

    def mark_welcomed(self, email: str, now: datetime) -> bool:
        """Claim the welcome message for this consent; False when it was claimed before
        (so it is sent once, whatever the number of confirmations)."""
        cursor = self.db.execute(
            "UPDATE consents SET welcomed_at = ? WHERE email = ? AND welcomed_at IS NULL",
            (timestamp(now), email.lower()),
        )
        return cursor.rowcount > 0

    def lookup(self, emails: Sequence[str]) -> dict[str, Consent]:
        """The consents of these addresses (lower-cased keys), in one query."""
        rows = self.db.execute(
            "SELECT email, address, name, fields, requested_at, confirmed_at, ip, source,"
            " applied_at IS NOT NULL, welcomed_at IS NOT NULL FROM consents"
            " WHERE email IN (SELECT value FROM json_each(?))",
            (json.dumps([e.lower() for e in emails]),),
        )
        return {
            r[0]: Consent(r[1], r[2], json.loads(r[3]), *r[4:8], bool(r[8]), bool(r[9]))
            for r in rows
        }


class Requests:
    """Sign-up requests per key over rolling windows (the ``signup_requests`` table)."""

    def __init__(self, store: Store) -> None:
        self.db = store.db

    def since(self, key: str, start: datetime) -> list[str]:
        """The times (ISO 8601, oldest first) of ``key``'s requests after ``start``."""
        rows = self.db.execute(
            "SELECT at FROM signup_requests WHERE key = ? AND at > ? ORDER BY at",
            (key, timestamp(start)),
        )
        return [r[0] for r in rows]

    def add(self, keys: Sequence[str], now: datetime) -> None:
        """Count one request for each key; forget requests older than a day."""
        at = timestamp(now)
        old = timestamp(now - KEEP_REQUESTS)
        self.db.execute("DELETE FROM signup_requests WHERE at < ?", (old,))
        self.db.executemany(
            "INSERT INTO signup_requests (key, at) VALUES (?, ?)", [(k, at) for k in keys]
        )


def latest_edition_day(store: Store) -> str | None:
    """The day (``YYYY-MM-DD``) of the newest edition, or None before the first."""
    row = store.db.execute("SELECT day FROM editions ORDER BY day DESC LIMIT 1").fetchone()
    return row[0] if row else None


def recent_sections(store: Store, since: datetime) -> list[str]:
    """The sections of the articles collected since ``since``, by name."""
    rows = store.db.execute(
        "SELECT DISTINCT section FROM articles WHERE collected_at >= ? ORDER BY section",
        (timestamp(since),),
    )
    return [r[0] for r in rows if r[0]]

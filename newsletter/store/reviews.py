"""Editors' review of an edition: the proofs sent to them and their approve/hold decisions.

Both name the exact edition they are about by its approval fingerprint (its articles, its
rendering and the list's mail settings: ``edition.approval``), so a decision about one
version of an edition says nothing about another. Decisions are only ever added, never
changed: the table is the history ``newsletter status`` shows.

Two editors deciding at once: ``decide`` runs in one ``BEGIN IMMEDIATE`` transaction, so
SQLite orders them; the first decision about a version stands and the second is handed
the first back instead of being recorded.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from .database import Store, timestamp

APPROVED, HELD = "approved", "held"


@dataclass(frozen=True, slots=True)
class Proof:
    """A proof sent to one editor: ``outcome`` is ``sent`` or what went wrong; ``sent_at``
    is ISO 8601 in UTC."""

    email: str
    fingerprint: str
    outcome: str
    sent_at: str


@dataclass(frozen=True, slots=True)
class Decision:
    """An editor's decision: ``decision`` is ``approved`` or ``held``; ``source`` how it was
    made (``command`` or ``link``) and ``who`` by whom (the OS user of the command, the
    editor's address the link was sent to); ``decided_at`` ISO 8601 in UTC."""

    id: int
    fingerprint: str
    decision: str
    source: str
    who: str
    reason: str
    decided_at: str


class Reviews:
    """The ``edition_proofs`` and ``edition_decisions`` tables over a Store's connection.

    Every write raises ``StoreError`` (naming the file) when the database cannot be written.
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        self.db = store.db

    # --- proofs ---
    def record_proofs(
        self, edition_id: int, fingerprint: str, outcomes: Mapping[str, str], now: datetime
    ) -> None:
        """Record one proof per address (address → ``sent`` or what went wrong)."""
        with self.store.transaction() as db:
            db.executemany(
                "INSERT INTO edition_proofs (edition_id, email, fingerprint, outcome, sent_at)"
                " VALUES (?, ?, ?, ?, ?)",
                [(edition_id, e, fingerprint, o, timestamp(now)) for e, o in outcomes.items()],
            )

    def proofs(self, edition_id: int) -> list[Proof]:
        """The edition's proofs, oldest first."""
        rows = self.db.execute(
            "SELECT email, fingerprint, outcome, sent_at FROM edition_proofs"
            " WHERE edition_id = ? ORDER BY rowid",
            (edition_id,),
        )
        return [Proof(*row) for row in rows]

    def proof_sent(self, edition_id: int, fingerprint: str) -> bool:
        """Whether a proof of this version of the edition reached an editor."""
        row = self.db.execute(
            "SELECT EXISTS (SELECT 1 FROM edition_proofs WHERE edition_id = ?"
            " AND fingerprint = ? AND outcome = 'sent')",
            (edition_id, fingerprint),
        ).fetchone()
        return bool(row[0])

    # --- decisions ---
    def decisions(self, edition_id: int) -> list[Decision]:
        """The edition's decisions, oldest first."""
        rows = self.db.execute(
            "SELECT id, fingerprint, decision, source, who, reason, decided_at"
            " FROM edition_decisions WHERE edition_id = ? ORDER BY id",
            (edition_id,),
        )
        return [Decision(*row) for row in rows]

    def decide(
        self,
        edition_id: int,
        fingerprint: str,
        decision: str,
        by: tuple[str, str],
        reason: str,
        now: datetime,
        override: bool = False,
    ) -> tuple[Decision, bool]:
        """Record ``decision`` (``approved`` or ``held``) about this version of the edition,
        ``by`` (source, who); return it and True. When a decision about the same version is
        already recorded and not ``override``, record nothing and return that one and False.
        """
        with self.store.transaction() as db:
            row = db.execute(
                "SELECT id, fingerprint, decision, source, who, reason, decided_at"
                " FROM edition_decisions WHERE edition_id = ? AND fingerprint = ?"
                " ORDER BY id DESC LIMIT 1",
                (edition_id, fingerprint),
            ).fetchone()
            if row is not None and not override:
                return Decision(*row), False
            values = (fingerprint, decision, by[0], by[1], reason, timestamp(now))
            cursor = db.execute(
                "INSERT INTO edition_decisions (edition_id, fingerprint, decision, source,"
                " who, reason, decided_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (edition_id, *values),
            )
            assert cursor.lastrowid is not None
        return Decision(cursor.lastrowid, *values), True

    def last_decision_id(self) -> int:
        """The newest decision's id, any edition (0 when none): the daemon watches it to
        retry a waiting edition as soon as someone decides."""
        row = self.db.execute("SELECT COALESCE(MAX(id), 0) FROM edition_decisions").fetchone()
        return int(row[0])

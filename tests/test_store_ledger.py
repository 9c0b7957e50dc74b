"""The ledger's journal as a crash or a full disk leaves it: whole moves replayed, torn
ones skipped, and the counts people see include moves not yet in SQLite."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

from newsletter.store.database import Store
from newsletter.store.ledger import journal_path, recover

NOW = datetime(2026, 11, 27, 7, tzinfo=UTC)
JOURNAL = (
    "B\t1\ta@example.com\t<1@x>\t2026-11-27T07:00:00+00:00\n"
    "F\t1\ta@example.com\tsent\t250\taccepted\t2026-11-27T07:00:01+00:00\n"
    "B\t1\tb@example.com\t<2@x>\t2026-11-27T07:00:01+00:00\n"
    "F\t1\tb@example.com\tsent\t250\taccepted\t2026-11-27T0\n"  # a full disk tore it
    "B\t1\tc@example.com\t<3@x>\t2026-11-2"  # a crash tore it
)


def test_whole_moves_are_replayed_and_torn_ones_skipped(tmp_path: Path) -> None:
    with Store(tmp_path / "newsletter.db") as store:
        edition = store.freeze_edition(date(2026, 11, 27), 1, "s", [], "{}", "f", NOW)
        journal = journal_path(store.path)
        journal.write_text(JOURNAL)

        # Before the replay, what people see already counts the journal's moves.
        assert store.delivery_counts(edition.id) == {"sent": 1, "pending": 1}
        exported = {row[0]: row[1] for row in store.deliveries(edition.id)}
        assert exported == {"a@example.com": "sent", "b@example.com": "pending"}

        assert recover(store.db, journal) == 3
        rows = dict(store.db.execute("SELECT email, status FROM deliveries").fetchall())
        assert rows == {"a@example.com": "sent", "b@example.com": "pending"}
        assert journal.read_bytes() == b""
        assert store.delivery_counts(edition.id) == {"sent": 1, "pending": 1}

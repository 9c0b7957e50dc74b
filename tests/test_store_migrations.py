"""Migrations are numbered by their place or explicitly; a gap is allowed, a number that
does not grow is refused; an existing database takes only the ones it lacks."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from newsletter.store import migrations
from newsletter.store.bounces import BounceReports
from newsletter.store.database import Store


def test_numbers_follow_the_place_or_the_entry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(migrations, "MIGRATIONS", ("A", "B", (5, "E"), "F"))
    assert list(migrations.numbered()) == [(1, "A"), (2, "B"), (5, "E"), (6, "F")]
    monkeypatch.setattr(migrations, "MIGRATIONS", ("A", "B", (2, "C")))
    with pytest.raises(ValueError, match="migration 2 comes after 2"):
        list(migrations.numbered())


def test_the_bounce_reports_table_is_migration_10_its_index_11(tmp_path: Path) -> None:
    with Store(tmp_path / "n.db"):
        pass
    with sqlite3.connect(tmp_path / "n.db") as db:
        versions = [v for (v,) in db.execute("SELECT version FROM schema_migrations")]
        assert versions[-2:] == [10, 11]
        assert db.execute("SELECT COUNT(*) FROM bounce_reports").fetchone() == (0,)


def test_a_report_finds_its_delivery_row_by_index_not_by_scan(tmp_path: Path) -> None:
    """A Message-ID, or a bounce token's locator, is one index lookup in the ledger: the
    plan of every query the lookups run searches deliveries by that index."""
    with Store(tmp_path / "n.db") as store:
        store.db.execute(
            "INSERT INTO editions (id, day, number, subject, article_ids, rendered,"
            " fingerprint, created_at) VALUES (1, '2026-12-01', 1, 's', '[]', '', '', '')"
        )
        reports, ran = BounceReports(store), []
        store.db.set_trace_callback(ran.append)
        reports.sent_message(1, "<20261201.1.0123456789abcdef0123@example.com>")
        reports.located(1, "0123456789ab")
        store.db.set_trace_callback(None)
        lookups = [q for q in ran if "FROM deliveries" in q]
        assert len(lookups) == 2
        for query in lookups:
            plan = " ".join(str(row[-1]) for row in store.db.execute("EXPLAIN QUERY PLAN " + query))
            assert "INDEX deliveries_message_id" in plan, plan

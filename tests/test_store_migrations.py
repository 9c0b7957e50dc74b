"""Migrations are numbered by their place or explicitly; a gap is allowed, a number that
does not grow is refused; an existing database takes only the ones it lacks."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from newsletter.store import migrations
from newsletter.store.database import Store


def test_numbers_follow_the_place_or_the_entry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(migrations, "MIGRATIONS", ("A", "B", (5, "E"), "F"))
    assert list(migrations.numbered()) == [(1, "A"), (2, "B"), (5, "E"), (6, "F")]
    monkeypatch.setattr(migrations, "MIGRATIONS", ("A", "B", (2, "C")))
    with pytest.raises(ValueError, match="migration 2 comes after 2"):
        list(migrations.numbered())


def test_the_bounce_reports_table_is_migration_10(tmp_path: Path) -> None:
    with Store(tmp_path / "n.db"):
        pass
    with sqlite3.connect(tmp_path / "n.db") as db:
        versions = [v for (v,) in db.execute("SELECT version FROM schema_migrations")]
        assert versions[-1] == 10
        assert db.execute("SELECT COUNT(*) FROM bounce_reports").fetchone() == (0,)

"""The SQLite database, the truth for what was collected and what was sent.

One file in WAL mode. Migrations (migrations.py) are ordered scripts recorded in
``schema_migrations``, each applied in the same transaction as its record. Time always
comes in as an argument. Suppressions (unsubscribes, bounces) are in ``suppressions``.

The file itself (owner-only, never silently replaced by a new one, errors a user can fix
raised as ``StoreError``) is ``dbfile``'s concern.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from ..errors import ConfigError
from ..models import Article
from .dbfile import (
    connect,
    create_owner_only,
    is_blank,
    refuse_lost_history,
    traces_beside,
    warn_if_shared,
)
from .deliveries import DeliveryReads
from .failures import store_error
from .migrations import numbered


@dataclass(frozen=True, slots=True)
class StoredEdition:
    """An edition as frozen in the database: enough to resend the same bytes."""

    id: int
    day: date
    number: int
    subject: str
    article_ids: tuple[str, ...]
    rendered: str  # the RenderedEdition as JSON (``edition.rendered`` owns the format)
    fingerprint: str


def timestamp(moment: datetime) -> str:
    """How the database stores a moment: ISO 8601 in UTC, to the second."""
    return moment.astimezone(UTC).isoformat(timespec="seconds")


class Store(DeliveryReads):
    """The database. Use as a context manager; every write method commits."""

    def __init__(self, path: Path) -> None:
        """Open (creating if needed, owner-only) and migrate the database.

        Raises:
            ConfigError: the file is not a database of this project, or it is missing or
                empty while files beside it show earlier runs (``refuse_lost_history``).
            StoreError: the file or its folder cannot be created or written.
        """
        self.path = path
        if is_blank(path):
            refuse_lost_history(path, traces_beside(path))
        try:
            created = create_owner_only(path)
            self.db = connect(path)
            self.db.execute("PRAGMA journal_mode=WAL")
            # NORMAL in WAL mode survives a killed process (the case we care about: kill -9
            # mid-send) without an fsync per commit.
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.execute("PRAGMA foreign_keys=ON")
            self._migrate()
        except OSError as exc:
            raise store_error(path, exc) or exc from exc
        except sqlite3.DatabaseError as exc:
            raise ConfigError(
                f"{path}: cannot use the database: {exc}",
                "check the 'database' setting points to a newsletter database",
            ) from None
        if not created:
            warn_if_shared(path)

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.db.close()

    def check_writable(self) -> None:
        """Make sure the database takes writes, before a run changes anything: a write
        rolled back at once (SQLite accepts ``BEGIN`` on a read-only file and refuses the
        first write).

        Raises:
            StoreError: it is read-only, or another program holds a lock on it.
        """
        self.db.execute("BEGIN IMMEDIATE")
        try:
            self.db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('write_check', '')")
        finally:
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")

    def has_editions(self) -> bool:
        return self.db.execute("SELECT EXISTS (SELECT 1 FROM editions)").fetchone()[0] == 1

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def _migrate(self) -> None:
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY,"
            " applied_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)"
        )
        done = {row[0] for row in self.db.execute("SELECT version FROM schema_migrations")}
        for version, script in numbered():
            if version in done:
                continue
            with self.transaction() as db:
                for statement in filter(str.strip, script.split(";")):
                    db.execute(statement)
                db.execute("INSERT INTO schema_migrations (version) VALUES (?)", (version,))

    # --- metadata ---
    def meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        self.db.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    # --- articles ---
    def add_articles(self, articles: Iterable[Article], now: datetime) -> list[Article]:
        """Store articles not seen before (by id); return the new ones."""
        with self.transaction() as db:
            return [a for a in articles if self.insert_article(db, a, now)]

    @staticmethod
    def insert_article(db: sqlite3.Connection, a: Article, now: datetime) -> bool:
        """Insert one article inside the caller's transaction unless its id is known;
        return whether it was new."""
        cur = db.execute(
            "INSERT OR IGNORE INTO articles (id, source, url, title, section, summary,"
            " body, author, published_at, image_url, image_alt, image_width, image_height,"
            " collected_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                a.id,
                a.source,
                a.url,
                a.title,
                a.section,
                a.summary,
                a.body,
                a.author,
                timestamp(a.published) if a.published else None,
                a.image_url,
                a.image_alt,
                a.image_width,
                a.image_height,
                timestamp(now),
            ),
        )
        return bool(cur.rowcount)

    def unassigned_articles(self) -> list[Article]:
        """Articles collected but not yet in any edition."""
        rows = self.db.execute(f"SELECT {_ARTICLE_COLUMNS} FROM articles WHERE edition_id IS NULL")
        return [_article(row) for row in rows]

    def in_editions(self, ids: Sequence[str]) -> set[str]:
        """Which of these article ids are already in an edition."""
        rows = self.db.execute(
            "SELECT id FROM articles WHERE edition_id IS NOT NULL"
            " AND id IN (SELECT value FROM json_each(?))",
            (json.dumps(list(ids)),),
        )
        return {row[0] for row in rows}

    def articles_by_id(self, ids: Sequence[str]) -> list[Article]:
        """The articles with these ids, in the order given."""
        found: dict[str, Article] = {}
        for row in self.db.execute(
            f"SELECT {_ARTICLE_COLUMNS} FROM articles WHERE id IN (SELECT value FROM json_each(?))",
            (json.dumps(list(ids)),),
        ):
            found[row[0]] = _article(row)
        return [found[i] for i in ids if i in found]

    # --- editions ---
    def edition_for(self, day: date) -> StoredEdition | None:
        row = self.db.execute(
            "SELECT id, day, number, subject, article_ids, rendered, fingerprint"
            " FROM editions WHERE day = ?",
            (day.isoformat(),),
        ).fetchone()
        return _edition(row) if row else None

    def next_edition_number(self) -> int:
        row = self.db.execute("SELECT COALESCE(MAX(number), 0) + 1 FROM editions").fetchone()
        return int(row[0])

    def freeze_edition(
        self,
        day: date,
        number: int,
        subject: str,
        article_ids: Sequence[str],
        rendered: str,
        fingerprint: str,
        now: datetime,
    ) -> StoredEdition:
        """Record the edition and assign its articles to it, in one transaction.

        An article already in another edition is never taken twice: the update only touches
        unassigned rows, and a mismatch aborts the transaction.
        """
        with self.transaction() as db:
            cur = db.execute(
                "INSERT INTO editions (day, number, subject, article_ids, rendered, fingerprint,"
                " created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    day.isoformat(),
                    number,
                    subject,
                    json.dumps(list(article_ids)),
                    rendered,
                    fingerprint,
                    timestamp(now),
                ),
            )
            edition_id = cur.lastrowid
            assert edition_id is not None
            cur = db.execute(
                "UPDATE articles SET edition_id = ? WHERE edition_id IS NULL"
                " AND id IN (SELECT value FROM json_each(?))",
                (edition_id, json.dumps(list(article_ids))),
            )
            if cur.rowcount != len(article_ids):
                raise RuntimeError("an article of this edition is already in another edition")
        return StoredEdition(
            edition_id, day, number, subject, tuple(article_ids), rendered, fingerprint
        )

    def editions(self) -> list[tuple[StoredEdition, dict[str, int]]]:
        """Every edition, newest first, with its delivery counts by status."""
        result = []
        rows = self.db.execute(
            "SELECT id, day, number, subject, article_ids, rendered, fingerprint"
            " FROM editions ORDER BY day DESC"
        ).fetchall()
        for row in rows:
            edition = _edition(row)
            result.append((edition, self.delivery_counts(edition.id)))
        return result

    # --- section variants ---
    def variants(self, edition_id: int) -> dict[str, str]:
        """The frozen variants of an edition: key → RenderedEdition JSON."""
        rows = self.db.execute(
            "SELECT key, rendered FROM edition_variants WHERE edition_id = ?", (edition_id,)
        )
        return dict(rows.fetchall())

    def freeze_variants(self, edition_id: int, variants: dict[str, tuple[str, str]]) -> None:
        """Record variants (key → (rendered JSON, fingerprint)); one already frozen is kept,
        so a resumed send sends the bytes the first run sent."""
        with self.transaction() as db:
            db.executemany(
                "INSERT OR IGNORE INTO edition_variants (edition_id, key, rendered, fingerprint)"
                " VALUES (?, ?, ?, ?)",
                [(edition_id, key, r, f) for key, (r, f) in variants.items()],
            )

    def replace_rendering(
        self,
        edition_id: int,
        subject: str,
        rendered: str,
        fingerprint: str,
        variants: dict[str, tuple[str, str]],
    ) -> None:
        """Replace an edition's rendering (RenderedEdition JSON) and its variants' (key →
        (rendered JSON, fingerprint)) in one transaction, when the templates or settings
        changed; its articles, their order, its number and its day stay. Variants not
        given are dropped (a send renders again those it needs)."""
        with self.transaction() as db:
            db.execute(
                "UPDATE editions SET subject = ?, rendered = ?, fingerprint = ? WHERE id = ?",
                (subject, rendered, fingerprint, edition_id),
            )
            db.execute("DELETE FROM edition_variants WHERE edition_id = ?", (edition_id,))
            db.executemany(
                "INSERT INTO edition_variants (edition_id, key, rendered, fingerprint)"
                " VALUES (?, ?, ?, ?)",
                [(edition_id, key, r, f) for key, (r, f) in variants.items()],
            )


_ARTICLE_COLUMNS = (
    "id, source, title, section, summary, body, url, author, published_at, image_url,"
    " image_alt, image_width, image_height"
)


def _article(row: tuple) -> Article:  # type: ignore[type-arg]
    published = datetime.fromisoformat(row[8]) if row[8] else None
    return Article(
        id=row[0],
        source=row[1],
        title=row[2],
        section=row[3],
        summary=row[4],
        body=row[5],
        url=row[6],
        author=row[7],
        published=published,
        image_url=row[9],
        image_alt=row[10],
        image_width=row[11],
        image_height=row[12],
    )


def _edition(row: tuple) -> StoredEdition:  # type: ignore[type-arg]
    return StoredEdition(
        id=row[0],
        day=date.fromisoformat(row[1]),
        number=row[2],
        subject=row[3],
        article_ids=tuple(json.loads(row[4])),
        rendered=row[5],
        fingerprint=row[6],
    )

"""Source health (feeds and folders) and item identity in the SQLite database.

Kept apart from ``database`` so the delivery ledger and the feed ledger can change
independently; it works on a ``Store``'s connection and its tables come from the store's
migrations 3 (feeds, item keys) and 6 (folders). Time always comes in as an argument.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from ..models import Article
from .database import Store, timestamp

_COLUMNS = (
    "url, fetch_url, title, etag, last_modified, last_fetch, last_success, items_seen,"
    " failures, last_error, gone_since"
)


@dataclass(frozen=True, slots=True)
class FeedHealth:
    """What the database knows about one feed source (keyed by its URL as configured)."""

    url: str
    fetch_url: str | None = None  # where a permanent redirect (301/308) moved it
    title: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    last_fetch: datetime | None = None
    last_success: datetime | None = None
    items_seen: int = 0
    failures: int = 0  # consecutive
    last_error: str | None = None
    gone_since: datetime | None = None  # answered 410 Gone: no longer fetched

    @property
    def first_run(self) -> bool:
        return self.last_success is None


@dataclass(frozen=True, slots=True)
class Fetch:
    """The outcome of fetching one feed, to record."""

    ok: bool
    error: str | None = None
    gone: bool = False
    fetch_url: str | None = None
    title: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    new_items: int = 0


class FeedLedger:
    """Feed health and seen item keys, over an open ``Store``."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.db = store.db

    def health(self) -> dict[str, FeedHealth]:
        """Every feed the database has fetched, by URL."""
        rows = self.db.execute(f"SELECT {_COLUMNS} FROM feed_sources")
        return {row[0]: _health(row) for row in rows}

    def record(self, url: str, fetch: Fetch, now: datetime) -> None:
        """Record a fetch: a success resets the failure count, a failure adds one."""
        stamp = timestamp(now)
        with self.store.transaction() as db:
            db.execute("INSERT OR IGNORE INTO feed_sources (url) VALUES (?)", (url,))
            if fetch.ok:
                db.execute(
                    "UPDATE feed_sources SET last_fetch = ?, last_success = ?, failures = 0,"
                    " last_error = NULL, items_seen = items_seen + ?,"
                    " fetch_url = COALESCE(?, fetch_url), title = COALESCE(?, title),"
                    " etag = ?, last_modified = ? WHERE url = ?",
                    (
                        stamp,
                        stamp,
                        fetch.new_items,
                        fetch.fetch_url,
                        fetch.title,
                        fetch.etag,
                        fetch.last_modified,
                        url,
                    ),
                )
            else:
                db.execute(
                    "UPDATE feed_sources SET last_fetch = ?, failures = failures + 1,"
                    " last_error = ?, gone_since = CASE WHEN ? THEN ? ELSE gone_since END"
                    " WHERE url = ?",
                    (stamp, (fetch.error or "")[:500], fetch.gone, stamp, url),
                )

    def known_keys(self, keys: Sequence[str]) -> set[str]:
        """Which of these item keys were seen before (from any source)."""
        rows = self.db.execute(
            "SELECT key FROM item_keys WHERE key IN (SELECT value FROM json_each(?))"
            " UNION SELECT id FROM articles WHERE id IN (SELECT value FROM json_each(?))",
            (json.dumps(list(keys)), json.dumps(list(keys))),
        )
        return {row[0] for row in rows}

    def add_items(
        self,
        source: str,
        take: Iterable[tuple[Article, Sequence[str]]],
        leave: Iterable[Sequence[str]],
        now: datetime,
    ) -> list[Article]:
        """Store the taken articles not stored before and remember every key of taken and
        left items, in one transaction; return the articles that are new."""
        new: list[Article] = []
        stamp = timestamp(now)
        with self.store.transaction() as db:
            for article, keys in take:
                if self.store.insert_article(db, article, now):
                    new.append(article)
                for key in keys:
                    db.execute(
                        "INSERT OR IGNORE INTO item_keys (key, article_id, source, seen_at)"
                        " VALUES (?, ?, ?, ?)",
                        (key, article.id, source, stamp),
                    )
            for keys in leave:
                for key in keys:
                    db.execute(
                        "INSERT OR IGNORE INTO item_keys (key, article_id, source, seen_at)"
                        " VALUES (?, NULL, ?, ?)",
                        (key, source, stamp),
                    )
        return new


@dataclass(frozen=True, slots=True)
class FolderHealth:
    """What the database knows about one folder source (keyed by its path)."""

    path: str
    last_collect: datetime
    last_success: datetime | None = None  # the last collection that found the folder
    items_seen: int = 0  # new articles stored from it, over all collections
    skipped: int = 0  # files skipped at the last collection (unreadable, not parseable)
    failures: int = 0  # consecutive collections that did not find it
    last_error: str | None = None  # of the last collection: missing, or the first skip


@dataclass(frozen=True, slots=True)
class FolderRead:
    """The outcome of reading one folder at a collection, to record."""

    found: bool
    new_items: int = 0
    skipped: int = 0
    error: str | None = None


class FolderLedger:
    """Folder health, over an open ``Store``."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def health(self) -> dict[str, FolderHealth]:
        """Every folder the database has collected from, by path."""
        rows = self.store.db.execute(
            "SELECT path, last_collect, last_success, items_seen, skipped, failures,"
            " last_error FROM folder_sources"
        )
        return {
            row[0]: FolderHealth(
                row[0], datetime.fromisoformat(row[1]).astimezone(UTC), _when(row[2]), *row[3:]
            )
            for row in rows
        }

    def record(self, path: str, read: FolderRead, now: datetime) -> None:
        """Record one collection: a found folder resets the failure count and adds its new
        items, a missing one adds a failure."""
        stamp = timestamp(now)
        success = stamp if read.found else None
        with self.store.transaction() as db:
            db.execute(
                "INSERT INTO folder_sources (path, last_collect) VALUES (?, ?)"
                " ON CONFLICT (path) DO NOTHING",
                (path, stamp),
            )
            db.execute(
                "UPDATE folder_sources SET last_collect = ?,"
                " last_success = COALESCE(?, last_success), items_seen = items_seen + ?,"
                " skipped = ?, failures = CASE WHEN ? THEN 0 ELSE failures + 1 END,"
                " last_error = ? WHERE path = ?",
                (
                    stamp,
                    success,
                    read.new_items,
                    read.skipped,
                    read.found,
                    (read.error or "")[:500] or None,
                    path,
                ),
            )


def _when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value).astimezone(UTC) if value else None


def _health(row: tuple) -> FeedHealth:  # type: ignore[type-arg]
    return FeedHealth(
        url=row[0],
        fetch_url=row[1],
        title=row[2],
        etag=row[3],
        last_modified=row[4],
        last_fetch=_when(row[5]),
        last_success=_when(row[6]),
        items_seen=row[7],
        failures=row[8],
        last_error=row[9],
        gone_since=_when(row[10]),
    )

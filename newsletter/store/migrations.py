"""The database schema as ordered migrations.

Each entry runs once, in the same transaction as its row in ``schema_migrations``
(store.Store._migrate). Never edit an entry that has shipped: append a new one. An entry
is numbered by its place in the list, or explicitly as ``(number, script)``; numbers only
ever grow, and a gap is allowed (``numbered``).
"""

from __future__ import annotations

from collections.abc import Iterator

MIGRATIONS: tuple[str | tuple[int, str], ...] = (
    # 1: articles, editions, the delivery ledger, small key/value metadata
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE articles (
        id TEXT PRIMARY KEY,
        source TEXT NOT NULL,
        url TEXT,
        title TEXT NOT NULL,
        section TEXT NOT NULL,
        summary TEXT NOT NULL,
        body TEXT NOT NULL DEFAULT '',
        author TEXT,
        published_at TEXT,
        image_url TEXT,
        image_alt TEXT,
        collected_at TEXT NOT NULL,
        edition_id INTEGER REFERENCES editions(id)
    );
    CREATE INDEX articles_unassigned ON articles(edition_id) WHERE edition_id IS NULL;
    CREATE TABLE editions (
        id INTEGER PRIMARY KEY,
        day TEXT NOT NULL UNIQUE,
        number INTEGER NOT NULL UNIQUE,
        subject TEXT NOT NULL,
        article_ids TEXT NOT NULL,
        rendered TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        created_at TEXT NOT NULL
    );
    CREATE TABLE deliveries (
        edition_id INTEGER NOT NULL REFERENCES editions(id),
        email TEXT NOT NULL,
        status TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        last_code INTEGER,
        last_text TEXT,
        message_id TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (edition_id, email)
    ) WITHOUT ROWID;
    CREATE INDEX deliveries_status ON deliveries(edition_id, status);
    """,
    # 2: every index costs each ledger commit; counts by status are a range scan of the
    # primary key (edition_id, email) anyway.
    """
    DROP INDEX IF EXISTS deliveries_status;
    """,
    # 3 (feeds): each feed's health and HTTP validators; every key an item was
    # seen under (article_id NULL: seen on a source's first run and left out on purpose)
    """
    CREATE TABLE feed_sources (
        url TEXT PRIMARY KEY,
        fetch_url TEXT,
        title TEXT,
        etag TEXT,
        last_modified TEXT,
        last_fetch TEXT,
        last_success TEXT,
        items_seen INTEGER NOT NULL DEFAULT 0,
        failures INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        gone_since TEXT
    );
    CREATE TABLE item_keys (
        key TEXT PRIMARY KEY,
        article_id TEXT,
        source TEXT NOT NULL,
        seen_at TEXT NOT NULL
    ) WITHOUT ROWID;
    """,
    # 4 (unsubscribes): unsubscribes recorded at once (by the web endpoint, the CLI), consulted
    # by a running send, and applied to the CSV (applied_at) when the run lock is free.
    """
    CREATE TABLE suppressions (
        email TEXT PRIMARY KEY,
        status TEXT NOT NULL,
        source TEXT NOT NULL,
        created_at TEXT NOT NULL,
        applied_at TEXT
    ) WITHOUT ROWID;
    CREATE INDEX suppressions_pending ON suppressions(email) WHERE applied_at IS NULL;
    """,
    # 5 (section variants): section-preference variants, frozen like the edition itself
    """
    CREATE TABLE edition_variants (
        edition_id INTEGER NOT NULL REFERENCES editions(id),
        key TEXT NOT NULL,
        rendered TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        PRIMARY KEY (edition_id, key)
    ) WITHOUT ROWID;
    """,
    # 6 (folder health): each folder source's collections, as feed_sources does for feeds
    """
    CREATE TABLE folder_sources (
        path TEXT PRIMARY KEY,
        last_collect TEXT NOT NULL,
        last_success TEXT,
        items_seen INTEGER NOT NULL DEFAULT 0,
        skipped INTEGER NOT NULL DEFAULT 0,
        failures INTEGER NOT NULL DEFAULT 0,
        last_error TEXT
    ) WITHOUT ROWID;
    """,
    # 7 (sign-up): confirmed sign-ups (who consented, when, from which address, applied to
    # the CSV under the run lock like an unsubscribe), and the recent sign-up requests
    # their rate limits count (only a day's worth is kept)
    """
    CREATE TABLE consents (
        email TEXT PRIMARY KEY,
        address TEXT NOT NULL,
        name TEXT NOT NULL DEFAULT '',
        fields TEXT NOT NULL DEFAULT '{}',
        requested_at TEXT NOT NULL,
        confirmed_at TEXT NOT NULL,
        ip TEXT NOT NULL,
        source TEXT NOT NULL,
        applied_at TEXT,
        welcomed_at TEXT
    ) WITHOUT ROWID;
    CREATE TABLE signup_requests (key TEXT NOT NULL, at TEXT NOT NULL);
    CREATE INDEX signup_requests_key ON signup_requests(key, at);
    """,
    # 8 (editors' review): proofs sent to editors, and their approve/hold decisions; both
    # name the exact edition they are about by its approval fingerprint
    """
    CREATE TABLE edition_proofs (
        edition_id INTEGER NOT NULL REFERENCES editions(id),
        email TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        outcome TEXT NOT NULL,
        sent_at TEXT NOT NULL
    );
    CREATE INDEX edition_proofs_edition ON edition_proofs(edition_id);
    CREATE TABLE edition_decisions (
        id INTEGER PRIMARY KEY,
        edition_id INTEGER NOT NULL REFERENCES editions(id),
        fingerprint TEXT NOT NULL,
        decision TEXT NOT NULL,
        source TEXT NOT NULL,
        who TEXT NOT NULL,
        reason TEXT NOT NULL DEFAULT '',
        decided_at TEXT NOT NULL
    );
    CREATE INDEX edition_decisions_edition ON edition_decisions(edition_id);
    """,
    # 9 (picture sizes): each article's picture size in pixels, measured at collection;
    # a picture URL's definite outcome is kept (width NULL: no size to be had)
    """
    ALTER TABLE articles ADD COLUMN image_width INTEGER;
    ALTER TABLE articles ADD COLUMN image_height INTEGER;
    CREATE TABLE image_sizes (
        url TEXT PRIMARY KEY,
        width INTEGER,
        height INTEGER,
        measured_at TEXT NOT NULL
    ) WITHOUT ROWID;
    """,
    # 10 (bounces): every bounce or complaint report read from the bounce mailbox, by its
    # own Message-ID and a hash of its bytes: a report read twice changes nothing. One row
    # per recipient it is about (email '' when none); kind hard/soft/complaint (believed),
    # or why it changed nobody; soft bounces count by distinct edition.
    """
    CREATE TABLE bounce_reports (
        report TEXT NOT NULL,
        email TEXT NOT NULL DEFAULT '',
        kind TEXT NOT NULL,
        edition_id INTEGER REFERENCES editions(id),
        detail TEXT NOT NULL DEFAULT '',
        origin TEXT NOT NULL DEFAULT '',
        received_at TEXT NOT NULL,
        PRIMARY KEY (report, email)
    ) WITHOUT ROWID;
    CREATE INDEX bounce_reports_email ON bounce_reports(email, kind);
    CREATE INDEX bounce_reports_edition ON bounce_reports(edition_id, kind);
    """,
    # 11 (bounces): a report's Message-ID, or a bounce token's locator (the first digits of
    # its Message-ID's code), leads straight to its delivery row: one index lookup, not a
    # scan of the edition's rows.
    """
    CREATE INDEX deliveries_message_id ON deliveries(message_id);
    """,
)


def numbered() -> Iterator[tuple[int, str]]:
    """(version, script) of every migration in order: a plain entry takes the number after
    the one before it; ``(number, script)`` says its own (greater) number.

    Raises:
        ValueError: numbers that do not grow (two entries claiming one version).
    """
    last = 0
    for entry in MIGRATIONS:
        version, script = entry if isinstance(entry, tuple) else (last + 1, entry)
        if version <= last:
            raise ValueError(f"migration {version} comes after {last}: numbers must grow")
        last = version
        yield version, script

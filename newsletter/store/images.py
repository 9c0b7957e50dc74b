"""Picture sizes: every picture URL collection measured, and what it learnt.

A URL is recorded once it gave a size, or none for good (``MISSING``, 0 x 0: not found,
not a picture; NULL: a size that cannot be read), so a picture several articles or
several runs share is fetched once; a failure for now (too slow, a server error) is not
recorded, and a later run measures the picture again (``unmeasured``) as long as an
article showing it waits for an edition. Recording a size also gives it to the articles
not yet in an edition that show that picture: an edition already frozen keeps what it
was rendered with.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime

from .database import Store, timestamp

Size = tuple[int, int]  # (width, height) in pixels
# The size of a picture known to be missing (not found, not a picture, refused): 0 x 0,
# so the edition leaves its <img> out rather than show a broken box.
MISSING: Size = (0, 0)
# Pictures waiting from earlier runs measured in one run, at most: a run's time budget
# covers far fewer anyway, and a host that keeps failing cannot grow the work.
UNMEASURED_LIMIT = 50


class ImageSizes:
    """The ``image_sizes`` table of a store."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def known(self, urls: Iterable[str]) -> dict[str, Size | None]:
        """The URLs of ``urls`` measured before: URL → (width, height) (``MISSING`` when
        known missing), or None when that measure found no size to read."""
        rows = self.store.db.execute(
            "SELECT url, width, height FROM image_sizes"
            " WHERE url IN (SELECT value FROM json_each(?))",
            (json.dumps(sorted(set(urls))),),
        )
        return {url: (w, h) if w is not None and h is not None else None for url, w, h in rows}

    def unmeasured(self, limit: int = UNMEASURED_LIMIT) -> list[str]:
        """Picture URLs still to measure: those of feed articles waiting for an edition
        whose picture has no size and no recorded outcome (a failure for now, not reached
        within a run's budget, or collected before sizes were measured); the ``limit``
        whose articles were collected last."""
        rows = self.store.db.execute(
            "SELECT a.image_url FROM articles a"
            " WHERE a.edition_id IS NULL AND a.image_width IS NULL AND a.image_url IS NOT NULL"
            " AND EXISTS (SELECT 1 FROM item_keys k WHERE k.article_id = a.id)"
            " AND NOT EXISTS (SELECT 1 FROM image_sizes s WHERE s.url = a.image_url)"
            " GROUP BY a.image_url ORDER BY MAX(a.collected_at) DESC, a.image_url LIMIT ?",
            (limit,),
        )
        return [url for (url,) in rows]

    def record(self, sizes: Mapping[str, Size | None], now: datetime) -> None:
        """Remember each URL's final outcome, a size (``MISSING`` for a picture known to be
        missing) or None for a size that cannot be read (a URL already known keeps its
        first one; never pass a failure for now), and give the sizes to the unassigned
        articles showing those pictures, in one transaction."""
        with self.store.transaction() as db:
            db.executemany(
                "INSERT OR IGNORE INTO image_sizes (url, width, height, measured_at)"
                " VALUES (?, ?, ?, ?)",
                [(url, *(size or (None, None)), timestamp(now)) for url, size in sizes.items()],
            )
            db.executemany(
                "UPDATE articles SET image_width = ?, image_height = ? WHERE image_url = ?"
                " AND edition_id IS NULL AND image_width IS NULL",
                [(w, h, url) for url, size in sizes.items() if size for w, h in [size]],
            )

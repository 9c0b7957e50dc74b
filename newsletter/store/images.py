"""Picture sizes: every picture URL collection measured, and what it learnt.

A URL is recorded once it gave a size or definitely none (not found, not a picture), so a
picture several articles or several runs share is fetched once; a failure for now (too
slow, a server error) is not recorded, and a later run measures the picture again. Recording a
size also gives it to the articles not yet in an edition that show that picture: an
edition already frozen keeps what it was rendered with.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime

from .database import Store, timestamp

Size = tuple[int, int]  # (width, height) in pixels


class ImageSizes:
    """The ``image_sizes`` table of a store."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def known(self, urls: Iterable[str]) -> dict[str, Size | None]:
        """The URLs of ``urls`` measured before: URL → (width, height), or None when that
        measure found no size."""
        rows = self.store.db.execute(
            "SELECT url, width, height FROM image_sizes"
            " WHERE url IN (SELECT value FROM json_each(?))",
            (json.dumps(sorted(set(urls))),),
        )
        return {url: (w, h) if w and h else None for url, w, h in rows}

    def record(self, sizes: Mapping[str, Size | None], now: datetime) -> None:
        """Remember each URL's final outcome, a size or None for definitely none (a URL
        already known keeps its first one; never pass a failure for now), and give
        the sizes to the unassigned articles showing those pictures, in one transaction."""
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

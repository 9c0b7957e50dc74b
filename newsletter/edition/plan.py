"""What the edition stage is told and what it hands on: frozen values, and a frozen
edition read back from the database.

``EditionInputs`` and ``ArchiveSite`` are picklable, so a child process can render; this
module imports neither Jinja nor premailer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, tzinfo
from pathlib import Path

from ..errors import InputError
from ..models import Edition
from ..store.database import Store, StoredEdition
from .compose import regroup
from .rendered import ListInfo, RenderedEdition


@dataclass(frozen=True, slots=True)
class EditionInputs:
    """What composing and rendering an edition needs.

    ``subscribers`` is the subscriber CSV: its columns are the merge fields templates may
    use (``subscriber.<column>``), its ``sections`` column decides the variants.
    """

    templates: Path | None  # the user's templates folder; None: the defaults only
    info: ListInfo
    subscribers: Path
    max_articles: int
    section_order: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ArchiveSite:
    """The web archive: the folder its pages are written to, and what its Atom feed needs
    (the domain and List-Id its entry ids derive from, the zone editions are dated in)."""

    folder: Path
    domain: str
    list_id: str
    zone: tzinfo


@dataclass(frozen=True, slots=True)
class EditionPlan:
    """A composed (or frozen) edition, rendered, ready to personalize."""

    day: date
    number: int
    article_ids: tuple[str, ...]
    rendered: RenderedEdition
    stored: StoredEdition | None = None

    @property
    def tag(self) -> str:
        """``YYYYMMDD.N``: names the edition in Message-IDs and unsubscribe tokens."""
        return f"{self.day:%Y%m%d}.{self.number}"


def frozen_edition(store: Store, stored: StoredEdition) -> Edition:
    """A frozen edition rebuilt from the database, articles in their frozen order.

    Raises:
        InputError: the edition's articles are missing from the database.
    """
    articles = store.articles_by_id(list(stored.article_ids))
    edition = regroup(articles, day=stored.day, number=stored.number)
    if edition is None or len(articles) != len(stored.article_ids):
        raise InputError(f"{store.path}: the articles of edition {stored.day} are missing")
    return edition

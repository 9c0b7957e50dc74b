"""What a collection stored, and every item it did not take with why.

Nothing is dropped in silence: the collect step fills a ``Collection`` as it goes (the
articles stored, a ``NotTaken`` for every item left) and the commands print its summary
line, and with ``-v`` every item not taken.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from ..models import Article, NotTaken, NotTakenReason, collection_line
from ..store.database import Store


@dataclass
class Collection:
    """A collection's outcome: new articles stored, items not taken, and the identities of
    the items taken this run (an item another source brings later is their duplicate)."""

    articles: list[Article] = field(default_factory=list)
    not_taken: list[NotTaken] = field(default_factory=list)
    keys: set[str] = field(default_factory=set)
    unmeasured: int = 0  # pictures whose size is still to learn (the next run tries again)

    def summary(self) -> str:
        """``"3 new articles stored; not taken: 12 already seen, 1 duplicate; 2 pictures
        not measured yet, retried next run"``."""
        line = collection_line(len(self.articles), self.not_taken)
        if m := self.unmeasured:
            line += f"; {m} picture{'s' * (m != 1)} not measured yet, retried next run"
        return line


def store_articles(
    store: Store, articles: Iterable[Article], now: datetime, into: Collection | None = None
) -> Collection:
    """Store the articles of folder sources not stored before, into ``into`` (or a new
    ``Collection``), and return it; the others are not taken: a duplicate when an earlier
    file of this run has the same id, else already seen."""
    articles = list(articles)
    new = {a.id for a in store.add_articles(articles, now)}
    result = into if into is not None else Collection()
    for article in articles:
        if article.id in new and article.id not in result.keys:
            result.articles.append(article)
        else:
            reason = NotTakenReason.DUPLICATE if article.id in result.keys else NotTakenReason.SEEN
            link = article.url or article.id
            result.not_taken.append(NotTaken(reason, article.source, article.title, link))
        result.keys.add(article.id)
    return result

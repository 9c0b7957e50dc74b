"""Which articles go into an edition, and in which order. Pure and deterministic."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime

from ..models import Article, Edition, Section

_OLDEST = datetime.min.replace(tzinfo=UTC)


def _newest_first(article: Article) -> tuple[float, str, str]:
    published = article.published or _OLDEST
    return (-published.timestamp(), article.title.casefold(), article.id)


def compose(
    articles: Iterable[Article],
    *,
    day: date,
    number: int,
    max_articles: int,
    section_order: Sequence[str] = (),
) -> Edition | None:
    """Compose an edition from articles not yet in any edition; None when there are none.

    The newest ``max_articles`` are taken (ties broken by title, then id, so the result
    never depends on input order) and grouped by section. Sections named in
    ``section_order`` come first in that order; the others follow, the one with the
    newest article first, so the lead headline is the newest story.
    """
    chosen = sorted(articles, key=_newest_first)[:max_articles]
    if not chosen:
        return None
    groups: dict[str, list[Article]] = {}
    for article in chosen:  # newest first, so each group is newest first too
        groups.setdefault(article.section, []).append(article)
    rank = {name.casefold(): i for i, name in enumerate(section_order)}
    first_seen = {name: i for i, name in enumerate(groups)}

    def section_key(name: str) -> tuple[int, int]:
        return (rank.get(name.casefold(), len(rank)), first_seen[name])

    sections = tuple(Section(name, tuple(groups[name])) for name in sorted(groups, key=section_key))
    return Edition(key=day, number=number, sections=sections)


def regroup(articles: Iterable[Article], *, day: date, number: int) -> Edition | None:
    """Rebuild a frozen edition from its articles in their frozen order (sections in the
    order they first appear, as ``compose`` left them); None when there are none."""
    groups: dict[str, list[Article]] = {}
    for article in articles:
        groups.setdefault(article.section, []).append(article)
    if not groups:
        return None
    sections = tuple(Section(name, tuple(items)) for name, items in groups.items())
    return Edition(key=day, number=number, sections=sections)

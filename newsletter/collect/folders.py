"""Read articles from the configured folders of article files.

A folder source holds article files (``seeds/`` by default); feeds are fetched by
``fetch``. A file that cannot be read or parsed is reported with its path and skipped; the
others go on. A missing folder is reported too, and ``store_folders`` records each
folder's collection in the database (``store.feeds``) for ``newsletter sources``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from pathlib import Path

from ..errors import ParseError
from ..models import Article
from ..store.database import Store
from ..store.feeds import FolderLedger, FolderRead
from .article_file import ARTICLE_SUFFIXES, parse_article_file
from .config import SourceSpec
from .images import local_picture
from .plaintext import clean_article
from .taken import Collection, store_articles


@dataclass
class Collected:
    """What a collection found, and what went wrong on the way."""

    articles: list[Article] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


@dataclass
class FolderOutcome:
    """What reading one folder source gave: whether it was there, its articles (with the
    source's options applied) and the files it skipped."""

    spec: SourceSpec
    found: bool
    collected: Collected


def collect_sources(sources: Iterable[SourceSpec], tz: tzinfo) -> Collected:
    """Read every enabled folder source (feeds are skipped here: see ``fetch``); problems
    are collected, never raised."""
    result = Collected()
    for outcome in read_sources(sources, tz):
        result.articles += outcome.collected.articles
        result.problems += outcome.collected.problems
    return result


def store_folders(
    sources: Iterable[SourceSpec],
    tz: tzinfo,
    store: Store,
    now: datetime,
    report: Callable[[str], None],
) -> Collection:
    """Read every enabled folder source, store the articles not stored before and record
    each folder's collection (found or missing, new items, skipped files) for
    ``newsletter sources``; return the new articles with the items not taken. Problems are
    reported, never raised."""
    ledger = FolderLedger(store)
    result = Collection()
    for outcome in read_sources(sources, tz):
        problems = outcome.collected.problems
        for problem in problems:
            report(problem)
        before = len(result.articles)
        store_articles(store, outcome.collected.articles, now, into=result)
        fresh = len(result.articles) - before
        skipped = len(problems) if outcome.found else 0
        error = problems[0].removesuffix("; skipped") if problems else None
        if not outcome.found:
            error = "folder not found"
        ledger.record(outcome.spec.key, FolderRead(outcome.found, fresh, skipped, error), now)
    return result


def read_sources(sources: Iterable[SourceSpec], tz: tzinfo) -> list[FolderOutcome]:
    """Read every enabled folder source, one outcome each."""
    outcomes = []
    for spec in sources:
        if spec.path is None or not spec.enabled:
            continue
        found = Collected()
        there = read_folder(spec.path, tz, found)
        if spec.name or spec.section:  # per-source options override what the files say
            changes = {"source": spec.name} if spec.name else {}
            changes |= {"section": spec.section} if spec.section else {}
            found.articles = [
                clean_article(dataclasses.replace(a, **changes)) for a in found.articles
            ]
        outcomes.append(FolderOutcome(spec, there, found))
    return outcomes


def read_folder(folder: Path, tz: tzinfo, into: Collected) -> bool:
    """Parse every article file in ``folder`` (recursively, in name order) into ``into``;
    return whether the folder exists (a missing one is a problem in ``into``)."""
    if not folder.is_dir():
        into.problems.append(
            f"{folder}: source folder not found; skipped (check its path in 'sources')"
        )
        return False
    files = sorted(
        p
        for p in folder.rglob("*")
        if p.suffix.lower() in ARTICLE_SUFFIXES
        and p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )
    for path in files:
        relpath = path.relative_to(folder).as_posix()
        where = f"{folder.name}/{relpath}"
        try:
            data = path.read_bytes()
            text = data.decode("utf-8-sig")
            # Whole seconds: the database keeps seconds, and the order must not change
            # between a preview (fresh from disk) and the send (from the database).
            mtime = datetime.fromtimestamp(int(path.stat().st_mtime), UTC)
        except OSError as exc:
            into.problems.append(f"{where}: cannot read: {exc.strerror}; skipped")
            continue
        except UnicodeDecodeError as exc:
            into.problems.append(f"{where}: not UTF-8 text (byte {exc.start}); skipped")
            continue
        try:
            article = parse_article_file(
                text,
                source=folder.name,
                relpath=relpath,
                where=where,
                default_published=mtime,
                tz=tz,
            )
            into.articles.append(local_picture(article, path.parent))
        except ParseError as exc:
            into.problems.append(f"{exc}; skipped")
    return True

"""Read articles from the configured folders of article files.

A folder source holds article files (``seeds/`` by default); feeds are fetched by
``fetch``. A file that cannot be read or parsed is reported with its path and skipped; the
others go on.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from pathlib import Path

from ..errors import ParseError
from ..models import Article
from .article_file import ARTICLE_SUFFIXES, parse_article_file
from .config import SourceSpec
from .plaintext import clean_article


@dataclass
class Collected:
    """What a collection found, and what went wrong on the way."""

    articles: list[Article] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def collect_sources(sources: Iterable[SourceSpec], tz: tzinfo) -> Collected:
    """Read every enabled folder source (feeds are skipped here: see ``fetch``); problems
    are collected, never raised."""
    result = Collected()
    for spec in sources:
        if spec.path is None or not spec.enabled:
            continue
        found = Collected()
        read_folder(spec.path, tz, found)
        if spec.name or spec.section:  # per-source options override what the files say
            changes = {"source": spec.name} if spec.name else {}
            changes |= {"section": spec.section} if spec.section else {}
            found.articles = [
                clean_article(dataclasses.replace(a, **changes)) for a in found.articles
            ]
        result.articles += found.articles
        result.problems += found.problems
    return result


def read_folder(folder: Path, tz: tzinfo, into: Collected) -> None:
    """Parse every article file in ``folder`` (recursively, in name order) into ``into``."""
    if not folder.is_dir():
        into.problems.append(f"{folder}: source folder not found; skipped")
        return
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
            into.articles.append(
                parse_article_file(
                    text,
                    source=folder.name,
                    relpath=relpath,
                    where=where,
                    default_published=mtime,
                    tz=tz,
                )
            )
        except ParseError as exc:
            into.problems.append(f"{exc}; skipped")

"""Adapter: read articles from the configured folders, and the templates from disk.

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

from ..errors import InputError, ParseError
from ..models import Article
from ..settings.config import SourceSpec
from .article_file import ARTICLE_SUFFIXES, parse_article_file

PACKAGE_DIR = Path(__file__).resolve().parent.parent


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
            found.articles = [dataclasses.replace(a, **changes) for a in found.articles]
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


def default_templates_dir() -> Path:
    """The templates shipped with the package (a wheel), else the checkout's templates/."""
    packaged = PACKAGE_DIR / "default_templates"
    return packaged if packaged.is_dir() else PACKAGE_DIR.parent / "templates"


def load_templates(user_dir: Path | None) -> dict[str, str]:
    """Template sources by name: the defaults, each overridden by a file of the same name in
    ``user_dir``.

    Raises:
        InputError: ``user_dir`` does not exist or a template file cannot be read.
    """
    dirs = [default_templates_dir()]
    if user_dir is not None:
        if not user_dir.is_dir():
            raise InputError(
                f"{user_dir}: templates folder not found", "fix the 'templates' setting"
            )
        dirs.append(user_dir)
    templates: dict[str, str] = {}
    for folder in dirs:
        for path in sorted(folder.glob("*.j2")):
            try:
                templates[path.name] = path.read_text(encoding="utf-8-sig")
            except (OSError, UnicodeDecodeError) as exc:
                raise InputError(f"{path}: cannot read the template: {exc}") from None
    return templates

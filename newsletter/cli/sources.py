"""``newsletter sources`` and ``newsletter sources import FILE``: the sources and their
health, and feeds added from an OPML file.

The listing is a rich table on a terminal and plain tab-separated lines otherwise (for
grep, cron mail and scripts).
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from ..errors import InputError
from ..settings import DEFAULT_CONFIG, Settings
from .cells import count_of

if TYPE_CHECKING:
    from ..collect.collector import SourceRow

COLUMNS = (
    "source",
    "kind",
    "status",
    "last fetch",
    "last success",
    "items",
    "failures",
    "last error",
)


def add_parsers(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    sources = commands.add_parser(
        "sources", help="list the sources with their health (last fetch, failures, errors)"
    )
    sources_commands = sources.add_subparsers(dest="sources_command", metavar="SUBCOMMAND")
    opml = sources_commands.add_parser(
        "import", help="add the feeds of an OPML file to 'sources' in the config file"
    )
    opml.add_argument("opml", type=Path, help="the OPML file (a feed reader's export)")


def run(args: argparse.Namespace, settings: Settings, now: datetime) -> int:
    """Dispatch ``newsletter sources [import FILE]``."""
    if args.sources_command == "import":
        return import_opml(settings, args.opml, args.config or Path(DEFAULT_CONFIG))
    return list_sources(settings)


def list_sources(settings: Settings, out: TextIO = sys.stdout) -> int:
    """Print every configured source with its health; return the exit code (always 0)."""
    from ..collect.collector import source_rows  # feeds and HTTP
    from ..settings.values import collect_config
    from ..store.database import Store

    store = Store(settings.database) if settings.database.exists() else None
    try:
        rows = [_cells(row) for row in source_rows(collect_config(settings), store)]
    finally:
        if store is not None:
            store.close()
    if out.isatty():
        from rich.console import Console
        from rich.table import Table

        table = Table(*COLUMNS)
        for cells in rows:
            style = "bold red" if cells[2].startswith(("FAILING", "GONE", "MISSING")) else None
            table.add_row(*cells, style=style)
        Console(file=out).print(table)
    else:  # tab-separated, a header first: for grep, cut and cron mail
        for cells in [COLUMNS, *rows]:
            print("\t".join(cells), file=out)
    return 0


def _cells(row: SourceRow) -> tuple[str, ...]:
    spec, known = row.spec, row.health
    key = spec.key if spec.is_feed else _short(Path(spec.key))
    label = key if not spec.name else f"{spec.name} <{key}>"
    if not spec.is_feed:
        return _folder_cells(label, row)
    if not spec.enabled:
        status = "disabled"
    elif known is None:
        status = "not fetched yet"
    elif known.gone_since is not None:
        status = f"GONE since {known.gone_since:%Y-%m-%d}: remove it"
    elif row.failing:
        status = f"FAILING ({known.failures} in a row)"
    elif known.failures:
        status = "failed last time"
    else:
        status = "ok"
    if known is not None and known.fetch_url:
        status += f" (moved to {known.fetch_url})"
    if known is None:
        return (label, "feed", status, "-", "-", "-", "-", "-")
    return (
        label,
        "feed",
        status,
        _when(known.last_fetch),
        _when(known.last_success),
        count_of(known.items_seen, "item"),
        str(known.failures),
        known.last_error or "-",
    )


def _folder_cells(label: str, row: SourceRow) -> tuple[str, ...]:
    known = row.folder
    if not row.spec.enabled:
        status = "disabled"
    elif row.missing:
        status = "MISSING: no such folder; fix its path in 'sources'"
    elif known is None:
        status = "not collected yet"
    elif known.failures:
        status = "not collected since it appeared"
    elif known.skipped:
        status = f"ok, {count_of(known.skipped, 'file')} skipped"
    else:
        status = "ok"
    if known is None:
        return (label, "folder", status, "-", "-", "-", "-", "-")
    return (
        label,
        "folder",
        status,
        _when(known.last_collect),
        _when(known.last_success),
        count_of(known.items_seen, "item"),
        str(known.failures),
        known.last_error or "-",
    )


def _short(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _when(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC" if moment else "never"


def import_opml(settings: Settings, opml: Path, config: Path, out: TextIO = sys.stdout) -> int:
    """Add the feeds of an OPML file to the config file's ``sources``; feeds already
    configured are left as they are. Return the exit code.

    Raises:
        InputError: the OPML file cannot be read or parsed.
        ConfigError: the config file cannot be read, parsed or written.
    """
    from ..collect.opml import parse_opml
    from ..settings.configfile import add_feed_sources

    try:
        data = opml.read_bytes()
    except OSError as exc:
        raise InputError(f"{opml}: cannot read: {exc.strerror}") from None
    feeds = parse_opml(data, str(opml))
    known = {spec.key for spec in settings.sources}
    new = [feed for feed in feeds if feed.url not in known]
    if new:
        add_feed_sources(config, new)
    for feed in new:
        print(f"  + {feed.url}" + (f"  [{feed.section}]" if feed.section else ""), file=out)
    skipped = len(feeds) - len(new)
    note = f" ({skipped} already configured)" if skipped else ""
    print(f"{count_of(len(new), 'feed')} added to {config}{note}", file=out)
    if new and "NEWSLETTER_SOURCES" in os.environ:
        print(
            "newsletter: warning: NEWSLETTER_SOURCES is set and overrides 'sources' in the file",
            file=sys.stderr,
        )
    return 0


HANDLERS = {"sources": run}

"""Add sources to newsletter.toml, keeping everything else in it as it was.

Used by ``newsletter sources import``: imported feeds become ordinary entries of
``sources`` in the config file, so the file stays the one place where sources are defined
and the user can edit them. tomlkit keeps comments, order and formatting; the file is
rewritten atomically (temp file + rename).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import tomlkit
from tomlkit.exceptions import TOMLKitError
from tomlkit.items import AoT, Array

from ..collect.opml import OpmlFeed
from ..errors import ConfigError

DEFAULT_SOURCES = ({"path": "seeds"},)  # what an absent 'sources' means (settings.config)


def add_feed_sources(config: Path, feeds: Sequence[OpmlFeed]) -> None:
    """Append ``feeds`` to the ``sources`` of ``config`` (created when missing).

    When the file has no ``sources`` yet, the default (the ``seeds`` folder) is written
    first, so importing feeds adds to what the newsletter reads instead of replacing it.

    Raises:
        ConfigError: the file cannot be read, parsed or written, or its ``sources`` is not
            a list.
    """
    doc = _load(config)
    tables = [_entry(feed) for feed in feeds]
    current = doc.get("sources")
    if current is None:
        aot = tomlkit.aot()
        for entry in [*DEFAULT_SOURCES, *tables]:
            table = tomlkit.table()
            table.update(entry)
            aot.append(table)
        doc.append("sources", aot)
    elif isinstance(current, AoT):
        for entry in tables:
            current.append(entry)
    elif isinstance(current, Array):
        for entry in tables:
            inline = tomlkit.inline_table()
            inline.update(entry)
            current.append(inline)
        current.multiline(True)
    else:
        raise ConfigError(f"{config}: 'sources' is not a list", "write sources = [...]")
    _write(config, tomlkit.dumps(doc))


def _entry(feed: OpmlFeed) -> dict[str, Any]:
    entry: dict[str, Any] = {"url": feed.url}
    if feed.name:
        entry["name"] = feed.name
    if feed.section:
        entry["section"] = feed.section
    return entry


def _load(config: Path) -> tomlkit.TOMLDocument:
    if not config.exists():
        return tomlkit.document()
    try:
        return tomlkit.parse(config.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{config}: cannot read: {exc.strerror}") from None
    except (TOMLKitError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{config}: not valid TOML: {exc}", "fix the TOML syntax") from None


def _write(config: Path, text: str) -> None:
    folder = config.resolve().parent
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{config.name}.", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        mode = config.stat().st_mode & 0o777 if config.exists() else 0o644
        os.chmod(tmp, mode)  # mkstemp makes 0600
        os.replace(tmp, config)
    except OSError as exc:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
        raise ConfigError(f"{config}: cannot write: {exc.strerror}") from None

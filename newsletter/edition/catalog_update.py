"""Refresh the language catalogs from the templates and the daemon's pages (run from a
checkout; a maintainer's tool, not used at run time).

    python -m newsletter.edition.catalog_update        # messages.pot and every <lang>.po
    python -m newsletter.edition.catalog_update de sv  # ... and start sv.po if missing

Extracts every message (``{% trans %}``, ``_()``) as ``pybabel extract`` would with
``MAPPING`` below, writes ``templates/locale/messages.pot``, then merges it into each
``<lang>.po`` (new messages come in untranslated, removed ones are dropped, changed ones
are marked fuzzy), as ``pybabel update`` does. A file whose only change would be its
``POT-Creation-Date`` header is left untouched (no diff to review, no merge conflict).
Translate what is new: ``newsletter preview`` warns of any message a catalog still
lacks (README: Languages).
"""

from __future__ import annotations

import io
import re
import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent.parent
LOCALE = ROOT / "templates" / "locale"


# What is read for messages, as pybabel's mapping: (glob pattern, extraction method), and
# the options of each pattern (Jinja's i18n extension, whitespace trimmed as the templates
# render it).
MAPPING = [
    ("newsletter/daemon/**.py", "python"),
    ("newsletter/edition/archive.py", "python"),
    ("templates/**.j2", "jinja2"),
]
OPTIONS = {"templates/**.j2": {"extensions": "jinja2.ext.i18n", "trimmed": "true"}}


def extract() -> Catalog:
    """Every message of the templates and pages, as a ``messages.pot`` catalog."""
    template = Catalog(project="newsletter", charset="utf-8")
    found = extract_from_dir(str(ROOT), MAPPING, OPTIONS, comment_tags=("Translators:",))
    for filename, lineno, message, comments, context in found:
        template.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    return template


def _forms(string: object) -> tuple[str, ...]:
    return tuple(string) if isinstance(string, tuple | list) else (str(string or ""),)


# The header line every run changes (the time of the run), ignored when comparing.
_CREATION_DATE = re.compile(rb'^"POT-Creation-Date: [^"]*\\n"\n', re.MULTILINE)


def write_if_changed(path: Path, catalog: Catalog, **options: object) -> bool:
    """Write ``catalog`` to ``path`` (``babel.messages.pofile.write_po`` with ``options``)
    unless the file already says the same apart from its ``POT-Creation-Date``; return
    whether it was written."""
    out = io.BytesIO()
    write_po(out, catalog, **options)  # type: ignore[arg-type]
    data = out.getvalue()
    if path.exists() and _CREATION_DATE.sub(b"", path.read_bytes()) == _CREATION_DATE.sub(
        b"", data
    ):
        return False
    path.write_bytes(data)
    return True


def main(new: list[str], locale: Path = LOCALE) -> int:
    """Refresh ``locale``'s ``messages.pot`` and every ``<lang>.po``, starting one for each
    tag of ``new`` that has none; print a line per catalog. Returns the exit code, 0."""
    template = extract()
    write_if_changed(
        locale / "messages.pot", template, omit_header=False, sort_output=False, width=100
    )
    paths = sorted(locale.glob("*.po")) + [locale / f"{tag}.po" for tag in new]
    for path in dict.fromkeys(paths):
        if path.exists():
            with open(path, "rb") as handle:
                catalog = read_po(handle, locale=path.stem)
        else:
            catalog = Catalog(locale=path.stem, project="newsletter", charset="utf-8")
        catalog.update(template, update_header_comment=False)
        changed = write_if_changed(path, catalog, width=100, ignore_obsolete=True)
        untranslated = sum(1 for m in catalog if m.id and (m.fuzzy or not all(_forms(m.string))))
        state = "" if changed else " (unchanged)"
        print(f"{path.name}: {len(catalog)} messages, {untranslated} to translate{state}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

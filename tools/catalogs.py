"""Refresh the language catalogs from the templates and the daemon's pages.

    python tools/catalogs.py            # templates/locale/messages.pot and every <lang>.po
    python tools/catalogs.py de sv      # the same, and start sv.po if it does not exist

Extracts every message (``{% trans %}``, ``_()``) as ``pybabel extract -F babel.cfg`` would,
writes ``templates/locale/messages.pot``, then merges it into each ``<lang>.po`` (new
messages come in untranslated, removed ones are dropped, changed ones are marked fuzzy),
as ``pybabel update`` does. Translate what is new: ``newsletter preview`` warns of any
message a catalog still lacks (README: Languages).
"""

from __future__ import annotations

import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
LOCALE = ROOT / "templates" / "locale"


def extract() -> Catalog:
    with open(ROOT / "babel.cfg", encoding="utf-8") as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    template = Catalog(project="newsletter", charset="utf-8")
    found = extract_from_dir(str(ROOT), method_map, options_map, comment_tags=("Translators:",))
    for filename, lineno, message, comments, context in found:
        template.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    return template


def _forms(string: object) -> tuple[str, ...]:
    return tuple(string) if isinstance(string, tuple | list) else (str(string or ""),)


def main(new: list[str]) -> int:
    template = extract()
    with open(LOCALE / "messages.pot", "wb") as out:
        write_po(out, template, omit_header=False, sort_output=False, width=100)
    paths = sorted(LOCALE.glob("*.po")) + [LOCALE / f"{tag}.po" for tag in new]
    for path in dict.fromkeys(paths):
        if path.exists():
            with open(path, "rb") as handle:
                catalog = read_po(handle, locale=path.stem)
        else:
            catalog = Catalog(locale=path.stem, project="newsletter", charset="utf-8")
        catalog.update(template, update_header_comment=False)
        with open(path, "wb") as out:
            write_po(out, catalog, width=100, ignore_obsolete=True)
        untranslated = sum(1 for m in catalog if m.id and (m.fuzzy or not all(_forms(m.string))))
        print(f"{path.relative_to(ROOT)}: {len(catalog)} messages, {untranslated} to translate")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

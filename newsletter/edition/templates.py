"""The email templates: the defaults shipped with the package, each overridable by a file
of the same name in the user's ``templates`` folder; and the language catalogs beside them
(``locale/*.po``, the user's extending the package's: ``languages``)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from ..errors import InputError

PACKAGE_DIR = Path(__file__).resolve().parent.parent
CATALOG_FOLDER = "locale"  # beside the templates: <templates>/locale/<tag>.po


def default_templates_dir() -> Path:
    """The templates shipped with the package (a wheel), else the checkout's templates/."""
    packaged = PACKAGE_DIR / "default_templates"
    return packaged if packaged.is_dir() else PACKAGE_DIR.parent / "templates"


def load_templates(user_dir: Path | None) -> dict[str, str]:
    """Template sources by name: the defaults, each overridden by a file of the same name in
    ``user_dir``; then the catalogs (``locale/*.po`` of both folders, the package's first,
    and its ``messages.pot``) keyed by their path, which ``languages.find_language`` reads.

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
    for folder in dirs:
        for path in sorted((folder / CATALOG_FOLDER).glob("*.po*")):
            if path.suffix == ".pot" and folder != dirs[0]:
                continue  # the list of messages is the package's
            try:
                templates[str(path)] = path.read_text(encoding="utf-8-sig")
            except (OSError, UnicodeDecodeError) as exc:
                raise InputError(f"{path}: cannot read the language catalog: {exc}") from None
    return templates


def catalog_sources(templates: Mapping[str, str]) -> dict[str, str]:
    """The catalogs among ``load_templates``' sources (path → text)."""
    return {name: text for name, text in templates.items() if name.endswith((".po", ".pot"))}

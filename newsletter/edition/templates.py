"""The email templates: the defaults shipped with the package, each overridable by a file
of the same name in the user's ``templates`` folder."""

from __future__ import annotations

from pathlib import Path

from ..errors import InputError

PACKAGE_DIR = Path(__file__).resolve().parent.parent


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

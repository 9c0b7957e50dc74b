"""Where each setting's value came from, so that a problem names the file and line.

The sources, highest precedence first (as ``config.Settings`` reads them): keyword
arguments, ``NEWSLETTER_*`` environment variables, ``.env`` in the working directory, the
TOML config file. A value found in none of them is the default.

The TOML file is scanned line by line rather than parsed again: top-level keys can only
stand before the first ``[table]`` header (TOML 1.0, "Table"), table headers anywhere, and
lines inside multi-line strings are skipped. That is all a line number needs, and it works
on any file ``tomllib`` accepted.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .checks import SettingError

ENV_PREFIX = "NEWSLETTER_"
DOTENV = Path(".env")  # pydantic-settings reads it from the working directory

_BARE_OR_QUOTED = r"""(?:"([^"]+)"|'([^']+)'|([A-Za-z0-9_-]+))"""
_TOML_KEY = re.compile(rf"\s*{_BARE_OR_QUOTED}\s*(?:\.|=)")
_TOML_HEADER = re.compile(rf"\s*\[\[?\s*{_BARE_OR_QUOTED}\s*(?:\.[^\]]*)?\]\]?\s*(?:#.*)?$")
_DOTENV_KEY = re.compile(r"\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*=")
# pydantic-settings' message when a list in the environment or .env is not JSON.
_NOT_JSON = re.compile(r'field "(?P<field>\w+)" from source "\w+"')
FIX = "fix the value, or remove it to use the default"


@dataclass(frozen=True)
class TomlLines:
    """Line numbers (from 1) of a TOML file's top-level keys and table headers."""

    keys: Mapping[str, int] = field(default_factory=dict)
    headers: tuple[tuple[str, int], ...] = ()

    @classmethod
    def scan(cls, text: str) -> TomlLines:
        keys: dict[str, int] = {}
        headers: list[tuple[str, int]] = []
        open_quote: str | None = None  # inside a multi-line string opened by it
        for number, line in enumerate(text.splitlines(), 1):
            if open_quote is not None:
                if line.count(open_quote) % 2:
                    open_quote = None
                continue
            if match := _TOML_HEADER.match(line):
                headers.append((_name(match), number))
            elif not headers and (match := _TOML_KEY.match(line)):
                keys.setdefault(_name(match), number)
            open_quote = next((q for q in ('"""', "'''") if line.count(q) % 2), None)
        return cls(keys, tuple(headers))

    def line(self, key: str, index: int | None = None) -> int | None:
        """The line of ``key``; of its ``index``-th ``[[key]]`` table when it is one."""
        if key in self.keys:
            return self.keys[key]
        tables = [number for name, number in self.headers if name == key]
        if not tables:
            return None
        return tables[index] if index is not None and index < len(tables) else tables[0]


def _name(match: re.Match[str]) -> str:
    return next(group for group in match.groups() if group is not None)


@dataclass(frozen=True)
class Origins:
    """Where the settings were read from; answers "where did this value come from?"."""

    toml_path: Path | None
    toml: TomlLines
    dotenv: Mapping[str, tuple[int, str]]  # lower-cased name -> (line, name as written)
    environ: frozenset[str]  # lower-cased names of the NEWSLETTER_* variables set
    given: frozenset[str] = frozenset()  # keyword arguments

    @classmethod
    def read(
        cls, toml_path: Path | None, environ: Mapping[str, str], given: Iterable[str] = ()
    ) -> Origins:
        """Scan the config file and ``.env`` (unreadable ones count as empty)."""
        toml = TomlLines.scan(_read(toml_path)) if toml_path is not None else TomlLines()
        dotenv: dict[str, tuple[int, str]] = {}
        for number, line in enumerate(_read(DOTENV).splitlines(), 1):
            if match := _DOTENV_KEY.match(line):
                dotenv[match.group(1).lower()] = (number, match.group(1))  # the last one wins
        names = frozenset(k.lower() for k in environ if k.upper().startswith(ENV_PREFIX))
        return cls(toml_path, toml, dotenv, names, frozenset(given))

    def where(self, setting: str, index: int | None = None) -> str:
        """The place that gave ``setting`` (its ``index``-th entry) its value, then the
        setting's name, as a message prefix: ``newsletter.toml:3: smtp_url``,
        ``.env:2: smtp_url``, ``environment variable NEWSLETTER_SMTP_URL: smtp_url``,
        ``smtp_url (the default)``."""
        variable = f"{ENV_PREFIX.lower()}{setting}"
        label = setting if index is None else f"{setting}.{index}"  # as pydantic says it
        if setting in self.given:
            return f"{label} (given on the command line)"
        if variable in self.environ:
            return f"environment variable {variable.upper()}: {label}"
        if variable in self.dotenv:
            return f"{DOTENV}:{self.dotenv[variable][0]}: {label}"
        line = self.toml.line(setting, index) if self.toml_path is not None else None
        if line is not None:
            return f"{self.toml_path}:{line}: {label}"
        return f"{label} (the default)"

    def unknown(self, key: str, known: Iterable[str], inside: tuple[str | int, ...] = ()) -> str:
        """The message for a name that is not a setting, with the nearest known one.

        ``key`` is as pydantic reports it: a TOML key as written, a ``.env`` name
        lower-cased. ``inside`` locates a key within a setting (an entry of ``sources``).
        """
        if inside:
            setting, index = str(inside[0]), next((i for i in inside if isinstance(i, int)), None)
            return f"{self.where(setting, index)}: unknown key {key!r}{_nearest(key, known)}"
        line = self.toml.line(key) if self.toml_path is not None else None
        if line is not None or key not in self.dotenv:
            place = f"{self.toml_path}:{line}" if line is not None else self.toml_path
            return f"{place or 'settings'}: unknown setting {key!r}{_nearest(key, known)}"
        number, written = self.dotenv[key]
        prefix = ENV_PREFIX.lower()
        close = difflib.get_close_matches(key.removeprefix(prefix), list(known), n=1)
        suggestion = f" (did you mean '{ENV_PREFIX}{close[0].upper()}'?)" if close else ""
        if not key.startswith(prefix):
            suggestion = suggestion or f" (settings in {DOTENV} are named {ENV_PREFIX}<SETTING>)"
        return f"{DOTENV}:{number}: unknown setting {written!r}{suggestion}"


def _nearest(name: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def report(
    errors: Iterable[Any], origins: Origins, known: Iterable[str], nested: Mapping[str, Any]
) -> ConfigError:
    """One error for pydantic's validation errors (``ValidationError.errors()``): a line
    per problem, each starting with where the value came from.

    ``known`` are the settings' names; ``nested`` the keys known inside a setting (the
    entries of ``sources``), for "did you mean".
    """
    problems = [_problem(err, origins, list(known), nested) for err in errors]
    if len(problems) == 1:
        return ConfigError(*problems[0])
    lines = [f"{len(problems)} settings need fixing:"]
    for message, hint in problems:
        lines.append(f"  {message}" + (f"\n    {hint}" if hint != FIX else ""))
    return ConfigError("\n".join(lines), "fix each one, or remove it to use the default")


def _problem(
    err: Any, origins: Origins, known: list[str], nested: Mapping[str, Any]
) -> tuple[str, str]:
    loc: tuple[str | int, ...] = tuple(err["loc"])
    if err["type"] == "extra_forbidden":
        key, inside = str(loc[-1]), loc[:-1]
        names = nested.get(str(inside[0]), ()) if inside else known
        hint = "check the spelling; README.md (Configuration) lists every setting"
        return origins.unknown(key, names, inside), hint
    cause = err.get("ctx", {}).get("error")
    checked = isinstance(cause, SettingError)
    setting = cause.setting if checked and cause.setting else str(loc[0]) if loc else "?"
    index = loc[1] if len(loc) > 1 and isinstance(loc[1], int) else None
    inner = "".join(f".{part}" for part in loc[2:] if index is not None and isinstance(part, str))
    reason = str(cause) if cause is not None else str(err["msg"])
    hint = cause.hint if checked and cause.hint else FIX
    return f"{origins.where(setting, index)}{inner}: {reason}", hint


def not_json(exc: Exception, origins: Origins, examples: Mapping[str, str]) -> ConfigError:
    """The error for a list given in the environment or ``.env`` that is not JSON
    (pydantic-settings' ``SettingsError``); never repeats the value, which may be a key."""
    match = _NOT_JSON.search(str(exc))
    if match is None:
        return ConfigError(f"cannot read the settings: {exc}", f"check the {ENV_PREFIX}* variables")
    setting = match["field"]
    example = examples.get(setting, '["first", "second"]')
    return ConfigError(
        f"{origins.where(setting)}: not valid JSON ({exc.__cause__ or 'cannot be parsed'}); "
        f"in the environment and {DOTENV} a list is written in JSON",
        f"write {ENV_PREFIX}{setting.upper()}='{example}'",
    )

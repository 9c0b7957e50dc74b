"""The dependency rule of DESIGN.md, checked on the package's imports.

The pure core imports only the core; adapters import the core, never each other (an
adapter's own helper modules, listed below, count as part of it); only the wiring and the
entry points import adapters.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "newsletter"
SHARED = {"errors", "settings", "__init__"}  # exceptions, configuration, the version
CORE = {
    "models", "parsing", "compose", "render", "rendered", "personalize", "throttle",
    "variants", "feeds", "feedtext", "feedxml", "opml", "imports", "tokens", "dkimsign",
    "cronexpr",
}  # fmt: skip
# adapter -> the modules that are part of it
ADAPTERS = {
    "sources": set(), "fetch": set(), "subscribers": set(), "store": {"migrations"},
    "migrations": set(), "ledger": set(), "feedstore": {"store"}, "configfile": set(),
    "delivery": set(), "relay": {"smtpsession"}, "smtpsession": set(), "lock": set(),
    "dkimkeys": set(), "archive": set(), "browser": set(),
}  # fmt: skip


def imported_modules(name: str) -> set[str]:
    """The package's own modules that ``name`` imports (at any depth in the file)."""
    tree = ast.parse((PACKAGE / f"{name}.py").read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:
                found.add(node.module.split(".")[0])
            else:  # from . import x, y: modules, or names from the package's __init__
                for alias in node.names:
                    is_module = (PACKAGE / f"{alias.name}.py").exists()
                    found.add(alias.name if is_module else "__init__")
    return found


@pytest.mark.parametrize("name", sorted(CORE))
def test_the_core_imports_only_the_core(name: str) -> None:
    assert imported_modules(name) - CORE - SHARED == set()


@pytest.mark.parametrize("name", sorted(ADAPTERS))
def test_adapters_import_the_core_and_never_each_other(name: str) -> None:
    assert imported_modules(name) - CORE - SHARED - ADAPTERS[name] == set()


def test_every_module_is_placed() -> None:
    wiring_and_entry_points = {
        p.stem for p in PACKAGE.glob("*.py") if p.stem not in CORE | SHARED | set(ADAPTERS)
    }
    # Anything new lands here until someone decides which layer it belongs to.
    assert wiring_and_entry_points == {
        "__main__", "cli", "cli_lists", "collection", "daemoncmd", "health", "membership",
        "pipeline", "prepare", "preview", "publishing", "report", "scheduler", "sender",
        "sourcescmd", "status", "web",
    }  # fmt: skip

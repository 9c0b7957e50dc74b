"""The package's layout and its dependency rule (DESIGN.md), checked on the imports.

Layers, bottom up:

1. the foundation: ``errors``, ``models``, the package's ``__init__`` (its version);
2. the stages (``STAGES``): each imports the foundation and only the stages listed for it,
   the same list its ``__init__`` docstring gives after "May import:";
3. ``settings``: the configuration, and its translation into each stage's plain values;
4. ``job``: wires the stages, one function per step;
5. the entry points: ``daemon``, then ``cli``, then ``__main__``.

A module may import its own package and anything its layer lists; nothing imports upwards
(a stage never sees the settings, the job or an entry point), and no module imports
another in a circle, function-level imports included.
"""

from __future__ import annotations

import ast
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "newsletter"
FOUNDATION = {"errors", "models", "__init__"}
STAGES = {
    "store": set(),
    "collect": {"store"},
    "subscribers": {"store"},
    "edition": {"store", "subscribers"},
    "mail": {"edition", "subscribers"},
    "delivery": {"store", "subscribers", "edition", "mail"},
    "bounces": {"store", "subscribers", "mail"},
}
ALL_STAGES = set(STAGES)
UPPER = {
    "settings": FOUNDATION | ALL_STAGES,
    "job": FOUNDATION | ALL_STAGES | {"settings"},
    "daemon": FOUNDATION | ALL_STAGES | {"settings", "job"},
    "cli": FOUNDATION | ALL_STAGES | {"settings", "job", "daemon"},
    "__main__": {"cli"},
}
ALLOWED = {**{s: FOUNDATION | deps for s, deps in STAGES.items()}, **UPPER}
ALLOWED.update({name: set() for name in ("errors", "models", "__init__")})
# Modules and subpackages besides __init__ and __main__: DESIGN.md's layout has 13 with
# bounces/ (settings, errors, models, job, the seven stages, daemon, cli). A 14th entry
# means a new room: add it to DESIGN.md's layout first.
MAX_TOP_LEVEL = 13


def modules(root: Path) -> Iterator[tuple[str, Path]]:
    """Every module of the package at ``root``, as (dotted name, path)."""
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        yield ".".join(("newsletter", *parts)), path


def imports(root: Path, name: str, path: Path) -> set[str]:
    """The package's own modules that ``name`` imports, at any depth in the file."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, *([node.module] if node.module else [])])
            else:
                base = node.module or ""
            if not base.startswith("newsletter"):
                continue
            for alias in node.names:  # `from . import x`: x may be a module
                sub = f"{base}.{alias.name}"
                found.add(sub if _exists(root, sub) else base)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("newsletter")}
        elif isinstance(node, ast.Call) and _dynamic_import(node):
            found.add(node.args[0].value)  # type: ignore[attr-defined]
    return found


def _dynamic_import(call: ast.Call) -> bool:
    """``importlib.import_module("newsletter...")`` or ``__import__("newsletter...")``."""
    name = getattr(call.func, "attr", None) or getattr(call.func, "id", None)
    first = call.args[0] if call.args else None
    return (
        name in ("import_module", "__import__")
        and isinstance(first, ast.Constant)
        and str(first.value).startswith("newsletter")
    )


def _exists(root: Path, dotted: str) -> bool:
    rel = Path(*dotted.split(".")[1:])
    return (root / rel).with_suffix(".py").is_file() or (root / rel / "__init__.py").is_file()


def room(dotted: str) -> str:
    """The top-level entry a module belongs to: ``newsletter.store.ledger`` -> ``store``."""
    parts = dotted.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def graph(root: Path) -> dict[str, set[str]]:
    """Module -> the modules importing it runs: what it names, and the ``__init__`` of every
    package above those (Python runs them first), except its own packages'."""
    edges = {}
    for name, path in modules(root):
        targets = imports(root, name, path)
        own = _ancestors(name) | {name}
        edges[name] = {p for t in targets for p in _ancestors(t) | {t}} - own
    return edges


def _ancestors(dotted: str) -> set[str]:
    parts = dotted.split(".")
    return {".".join(parts[:i]) for i in range(2, len(parts))}


def violations(edges: dict[str, set[str]]) -> list[str]:
    """Each import that breaks the layer rule, as ``a imports b``."""
    found = []
    for name, targets in sorted(edges.items()):
        mine = room(name)
        for target in sorted(targets):
            theirs = room(target)
            if theirs != mine and theirs not in ALLOWED.get(mine, set()):
                found.append(f"{name} imports {target}")
    return found


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), and modules
    that import themselves."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in edges.get(node, set()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                component.append(top)
                if top == node:
                    break
            if len(component) > 1 or node in edges.get(node, set()):
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


# --- the package as it is ---------------------------------------------------------------


def test_few_entries_at_the_top() -> None:
    entries = {
        p.stem if p.suffix == ".py" else p.name
        for p in PACKAGE.iterdir()
        if p.suffix == ".py" or (p / "__init__.py").is_file()
    } - {"__init__", "__main__"}
    assert len(entries) <= MAX_TOP_LEVEL, sorted(entries)
    assert entries == set(ALLOWED) - {"__init__", "__main__"}  # every entry has a layer


def test_no_import_breaks_the_layer_rule() -> None:
    assert violations(graph(PACKAGE)) == []


def test_no_import_cycle_anywhere() -> None:
    assert cycles(graph(PACKAGE)) == []


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_each_stage_says_what_it_may_import(stage: str) -> None:
    doc = ast.get_docstring(ast.parse((PACKAGE / stage / "__init__.py").read_text())) or ""
    match = re.search(r"May import: ([^.]*)\.", doc)
    assert match, f"{stage}/__init__.py: its docstring has no 'May import: ...' line"
    said = set() if match[1] == "no other stage" else set(re.split(r",\s*", match[1]))
    assert said == STAGES[stage]


def test_modules_stay_small() -> None:
    long = {str(p): n for _, p in modules(PACKAGE) if (n := len(p.read_text().splitlines())) > 400}
    assert long == {}


def test_nothing_names_an_issue() -> None:
    """Code says what it is for, not which piece of work added it."""
    pattern = re.compile(r"(?i)\bissues?\s*#?\d|\(#\d+\)|\bdesign issue|\bdelivery issue")
    named = [
        f"{path}:{n}"
        for _, path in modules(PACKAGE)
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert named == []


# --- the checks themselves fail on a deliberate back-edge -------------------------------


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    target = tmp_path / "newsletter"
    shutil.copytree(PACKAGE, target, ignore=shutil.ignore_patterns("__pycache__"))
    return target


def _append(path: Path, line: str) -> None:
    path.write_text(path.read_text() + f"\n\ndef _back_edge() -> None:\n    {line}\n")


def test_a_stage_importing_the_job_is_caught(copy: Path) -> None:
    _append(copy / "store" / "database.py", "from ..job import send_edition  # noqa")
    assert violations(graph(copy)) == ["newsletter.store.database imports newsletter.job"]


def test_a_stage_importing_the_settings_is_caught(copy: Path) -> None:
    _append(copy / "mail" / "personalize.py", "from ..settings import Settings  # noqa")
    assert violations(graph(copy)) == ["newsletter.mail.personalize imports newsletter.settings"]


def test_a_dynamic_import_is_caught(copy: Path) -> None:
    line = 'importlib.import_module("newsletter.job")  # noqa'
    _append(copy / "store" / "database.py", f"import importlib  # noqa\n    {line}")
    assert violations(graph(copy)) == ["newsletter.store.database imports newsletter.job"]


def test_a_function_level_cycle_between_stages_is_caught(copy: Path) -> None:
    _append(copy / "edition" / "rendered.py", "from ..mail import personalize  # noqa")
    assert "newsletter.edition.rendered imports newsletter.mail.personalize" in violations(
        graph(copy)
    )
    assert any(
        {"newsletter.edition.rendered", "newsletter.mail.personalize"} <= set(c)
        for c in cycles(graph(copy))
    )

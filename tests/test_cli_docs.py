"""Every command has help text and is documented in the README (sqlite-utils' habit)."""

from __future__ import annotations

import argparse
from pathlib import Path

from newsletter.cli.main import build_parser

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


def _commands(parser: argparse.ArgumentParser, prefix: str = "newsletter") -> list[tuple]:
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help for a in action._choices_actions}
            for name, sub in action.choices.items():
                found.append((f"{prefix} {name}", helps.get(name)))
                found += _commands(sub, f"{prefix} {name}")
    return found


def test_every_command_has_help_and_a_readme_entry() -> None:
    commands = _commands(build_parser())
    assert len(commands) >= 15
    for command, help_text in commands:
        assert help_text, f"{command} has no help text"
        assert f"`{command}" in README, f"{command} is not in the README"

"""Argument types and path display shared by the command groups."""

from __future__ import annotations

import argparse
from datetime import date
from pathlib import Path


def day(text: str) -> date:
    """``--date YYYY-MM-DD``."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date: use YYYY-MM-DD") from None


def positive(text: str) -> int:
    """A whole number of at least 1 (``--count``)."""
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    return int(text)


def short(path: Path) -> Path:
    """``path`` relative to the working directory when it is inside it (shorter output)."""
    try:
        return path.relative_to(Path.cwd())
    except ValueError:
        return path

"""Small helpers for what the commands write for people: spreadsheet-safe cells, counts."""

from __future__ import annotations

# OWASP "CSV Injection": spreadsheet applications run a cell starting with one of these as
# a formula (=HYPERLINK(...), =cmd|...), tab and carriage return included.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: object) -> object:
    """A text cell that would start a formula, prefixed with a single quote, as OWASP
    advises and spreadsheets expect (they show the rest as text); other values unchanged.

    For files and listings meant for people (reports, ``subscribers list``), never for the
    subscriber CSV itself, whose values are data.
    """
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def count_of(count: int, noun: str, plural: str | None = None) -> str:
    """``1 subscriber``, ``2 subscribers``, ``0 bad rows``."""
    return f"{count} {noun if count == 1 else plural or noun + 's'}"

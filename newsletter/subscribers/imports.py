"""Exports of other newsletter tools → rows to merge into our list. Pure: bytes in, rows out.

Detected from the header row (or forced): Mailchimp, Ghost, listmonk, Substack, and a plain
``email[,name,...]`` list with or without a header. The text encoding comes from the BOM
(UTF-8, UTF-16), else UTF-8, else Windows-1252 (what Excel on Windows saves); the delimiter
(comma, semicolon, tab) is the one the header row uses most, outside quotes.
Addresses are validated by the caller (``subscribers.merge_import``), not here. A quoted
value that swallows what look like rows (an unbalanced quote) refuses the whole export.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from ..errors import InputError
from ..models import SubscriberStatus
from .csvfile import swallowed, swallows_rows

FORMATS = ("mailchimp", "ghost", "listmonk", "substack", "plain")
_ACTIVE, _UNSUB, _BOUNCED = (
    SubscriberStatus.ACTIVE,
    SubscriberStatus.UNSUBSCRIBED,
    SubscriberStatus.BOUNCED,
)
_TRUE = {"true", "1", "yes", "y", "t"}


@dataclass(frozen=True, slots=True)
class ImportRow:
    """One subscriber of an export: raw address, name, status and extra merge fields."""

    line: int
    email: str
    name: str = ""
    status: SubscriberStatus = SubscriberStatus.ACTIVE
    fields: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Export:
    """A decoded export: its detected format, encoding and delimiter, and its rows."""

    format: str
    encoding: str
    delimiter: str
    rows: list[ImportRow]


def decode(data: bytes) -> tuple[str, str]:
    """The text and the name of its encoding: BOM, else UTF-8, else Windows-1252."""
    for bom, name in (
        (b"\xef\xbb\xbf", "utf-8-sig"),
        (b"\xff\xfe", "utf-16"),
        (b"\xfe\xff", "utf-16"),
    ):
        if data.startswith(bom):
            return data.decode(name), name.removesuffix("-sig")
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace"), "windows-1252"


def sniff_delimiter(first_line: str) -> str:
    """The delimiter the header row uses most (outside quotes); comma on a tie."""
    unquoted = re.sub(r'"[^"]*"', "", first_line)
    counts = {d: unquoted.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: (counts[d], d == ","))
    return best if counts[best] else ","


def detect_format(header: list[str]) -> str:
    """Which tool made the export, from its header's column names (lower-cased)."""
    names = set(header)
    if "email address" in names:
        return "mailchimp"
    if "subscribed_to_emails" in names:
        return "ghost"
    if "attributes" in names and "email" in names:
        return "listmonk"
    if names & {"email_disabled", "active_subscription", "subscription_created_at"}:
        return "substack"
    return "plain"


def parse_export(data: bytes, source: str, forced: str | None = None) -> Export:
    """Decode and map an export.

    Raises:
        InputError: the file is empty, not CSV, or has no address column; names ``source``.
    """
    text, encoding = decode(data)
    text = text.lstrip("\ufeff")
    first = text.split("\n", 1)[0]
    delimiter = sniff_delimiter(first)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(reader, None)
        if not header:
            raise InputError(f"{source}: the file is empty", "export the list again")
        columns = [c.strip().lower() for c in header]
        headerless = "@" in columns[0] and forced in (None, "plain")
        fmt = forced or ("plain" if headerless else detect_format(columns))
        if fmt not in FORMATS:
            raise InputError(f"{source}: unknown format {fmt!r}", f"use one of {FORMATS}")
        mapper = _MAPPERS[fmt]
        if headerless:
            columns = ["email", "name", *[f"field{i}" for i in range(3, len(header) + 1)]]
            rows = list(_rows(source, [header], columns, mapper, 1))
        else:
            rows = []
        if _email_column(fmt) not in columns:
            raise InputError(
                f"{source}:1: no {_email_column(fmt)!r} column for the {fmt} format",
                "force the format with --format, or name the address column 'email'",
            )
        email_at = columns.index(_email_column(fmt))
        start = reader.line_num + 1
        for row in reader:
            line, start = start, reader.line_num + 1  # a quoted value may span lines
            if start - line > 1 and swallows_rows(row, email_at, delimiter):
                raise _swallowing(source, line, start)
            if any(cell.strip() for cell in row):
                rows.extend(_rows(source, [row], columns, mapper, line))
    except csv.Error as exc:
        raise InputError(f"{source}:{reader.line_num}: not valid CSV: {exc}") from None
    return Export(fmt, encoding, delimiter, rows)


def _swallowing(source: str, line: int, next_line: int) -> InputError:
    return InputError(
        f"{source}:{line}: {swallowed(line, next_line)}; nothing imported",
        "fix the export and import it again",
    )


def _email_column(fmt: str) -> str:
    return "email address" if fmt == "mailchimp" else "email"


def _rows(
    source: str, rows: list[list[str]], columns: list[str], mapper: Mapper, line: int
) -> Iterator[ImportRow]:
    for row in rows:
        record = dict(zip(columns, (c.strip() for c in row), strict=False))
        yield mapper(line, record)


Mapper = Callable[[int, dict[str, str]], ImportRow]


def _snake(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def _mailchimp(line: int, r: dict[str, str]) -> ImportRow:
    # Mailchimp exports one file per audience status; the unsubscribed file has UNSUB_TIME,
    # the cleaned (bounced) one CLEAN_TIME.
    first, last = r.get("first name", ""), r.get("last name", "")
    status = _UNSUB if r.get("unsub_time") else _BOUNCED if r.get("clean_time") else _ACTIVE
    fields = {"first_name": first, "last_name": last}
    if r.get("tags"):
        fields["tags"] = r["tags"]
    return ImportRow(line, r.get("email address", ""), f"{first} {last}".strip(), status, fields)


def _ghost(line: int, r: dict[str, str]) -> ImportRow:
    subscribed = r.get("subscribed_to_emails", "true").lower() in _TRUE
    fields = {"labels": r["labels"]} if r.get("labels") else {}
    return ImportRow(line, r.get("email", ""), r.get("name", ""), _status(subscribed), fields)


def _listmonk(line: int, r: dict[str, str]) -> ImportRow:
    # listmonk's subscriber status: enabled, disabled, blocklisted; only enabled gets mail.
    status = _ACTIVE if r.get("status", "enabled").lower() in ("enabled", "") else _UNSUB
    fields: dict[str, str] = {}
    try:
        attributes = json.loads(r.get("attributes") or "{}")
    except json.JSONDecodeError:
        attributes = {}
    if isinstance(attributes, dict):  # top-level scalar attributes become merge fields
        for key, value in attributes.items():
            if isinstance(value, str | int | float | bool):
                fields[_snake(str(key))] = str(value)
    return ImportRow(line, r.get("email", ""), r.get("name", ""), status, fields)


def _substack(line: int, r: dict[str, str]) -> ImportRow:
    disabled = r.get("email_disabled", "false").lower() in _TRUE
    fields = {"plan": r["plan"]} if r.get("plan") else {}
    return ImportRow(line, r.get("email", ""), r.get("name", ""), _status(not disabled), fields)


def _plain(line: int, r: dict[str, str]) -> ImportRow:
    known = {"email", "name", "status"}
    fields = {_snake(k): v for k, v in r.items() if k not in known and _snake(k)}
    status = {"unsubscribed": _UNSUB, "bounced": _BOUNCED}.get(r.get("status", "").lower())
    return ImportRow(line, r.get("email", ""), r.get("name", ""), status or _ACTIVE, fields)


def _status(subscribed: bool) -> SubscriberStatus:
    return _ACTIVE if subscribed else _UNSUB


_MAPPERS: dict[str, Mapper] = {
    "mailchimp": _mailchimp,
    "ghost": _ghost,
    "listmonk": _listmonk,
    "substack": _substack,
    "plain": _plain,
}

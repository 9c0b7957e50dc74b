"""The subscriber CSV, streamed row by row and validated.

The CSV is the truth for who is on the list. It is never held in memory whole: a million
rows stream through at constant memory, duplicates found with a compact set of 64-bit
digests rather than a Python set of strings.
"""

from __future__ import annotations

import csv
import hashlib
import re
from array import array
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from email_validator import EmailNotValidError, validate_email

from ..errors import InputError
from ..models import Subscriber, SubscriberStatus

# Plain ASCII addresses (nearly all of them) skip email-validator's ~30 µs: the pattern
# accepts only what email-validator accepts too, and normalises the same way (the domain
# lower-cased). Anything else takes the full validator. tests/test_subscribers_list.py checks
# the two agree.
_PLAIN = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@((?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63})"
)
_SPECIAL_USE = ("arpa", "invalid", "local", "localhost", "onion", "test")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
_STATUSES = {s.value: s for s in SubscriberStatus}


@dataclass(frozen=True, slots=True)
class BadRow:
    """A CSV row that cannot be used: ``where`` is ``file:line``."""

    where: str
    reason: str

    def __str__(self) -> str:
        return f"{self.where}: {self.reason}"


def normalise_address(raw: str) -> str:
    """Validate an address (no network) and return its normalised form.

    Raises:
        ValueError: the address is invalid; the message says why.
    """
    raw = raw.strip()
    if len(raw) <= 254 and _PLAIN.fullmatch(raw):
        local, domain = raw.rsplit("@", 1)
        if domain.rsplit(".", 1)[-1].lower() not in _SPECIAL_USE and len(local) <= 64:
            return f"{local}@{domain.lower()}"
    try:
        return validate_email(raw, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise ValueError(str(exc)) from None


def clean_field(value: str) -> str:
    """Remove control characters (CR/LF included): no merge field can inject a header."""
    if value.isprintable():  # no control character in it (~0.1 µs; the regex costs ~1)
        return value.strip()
    return _CONTROL.sub(" ", value).strip()


class DigestSet:
    """A set of 64-bit digests of strings, open addressing in one flat array.

    A Python set of a million strings costs ~100 MB; this costs 8 bytes a slot, ~11 MB
    for a million when sized from the expected count (no doubling on the way). Two
    different addresses colliding on 64 bits is negligible at any list size.
    """

    LOAD = 0.75  # linear probing stays short below this

    def __init__(self, expected: int = 0) -> None:
        self._slots = self._empty(max(1024, int(expected / self.LOAD) + 1))
        self._count = 0

    @staticmethod
    def _empty(size: int) -> array[int]:
        return array("Q", [0]) * size  # no intermediate bytes object: no transient copy

    def add(self, key: str) -> bool:
        """Add ``key``; return False when it was already present."""
        digest = int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest()) or 1
        if not self._insert(digest):
            return False
        self._count += 1
        if self._count > len(self._slots) * 0.85:  # the estimate was low: grow by half
            self._grow()
        return True

    def _insert(self, digest: int) -> bool:
        slots = self._slots
        size = len(slots)
        i = digest % size
        while slots[i]:
            if slots[i] == digest:
                return False
            i = i + 1 if i + 1 < size else 0
        slots[i] = digest
        return True

    def _grow(self) -> None:
        old = self._slots
        self._slots = self._empty(len(old) * 3 // 2)
        for digest in old:
            if digest:
                self._insert(digest)


def subscriber_columns(path: Path) -> list[str]:
    """The CSV's column names, lower-cased, from its header row.

    Raises:
        InputError: as ``read_subscribers``.
    """
    with open_csv(path) as (_, header):
        return header_columns(header)


def column_values(path: Path, column: str) -> set[str]:
    """The distinct values of one column (empty set when there is no such column); a
    cheap pass over the file, without validating rows.

    Raises:
        InputError: as ``read_subscribers``.
    """
    with open_csv(path) as (reader, columns):
        if column not in columns:
            return set()
        index = columns.index(column)
        return {clean_field(row[index]) for row in reader if len(row) > index}


def read_subscribers(path: Path, expected: int = 0) -> Iterator[Subscriber | BadRow]:
    """Stream the CSV: yield a Subscriber per usable row, a BadRow per unusable one.

    Raises:
        InputError: the file is missing, unreadable, not UTF-8, or has no ``email`` column.
    """
    with open_csv(path) as (reader, header):
        columns = header_columns(header)
        seen = DigestSet(expected)  # sized from the row count when the caller knows it
        start = reader.line_num + 1
        for row in reader:
            line, start = start, reader.line_num + 1  # a quoted value may span lines
            if any(cell.strip() for cell in row):
                yield _subscriber(f"{path}:{line}", line, columns, row, seen)


@contextmanager
def open_csv(path: Path) -> Iterator[tuple[Any, list[str]]]:
    """A csv reader past the header row, and the header as written; errors: InputError."""
    try:
        handle = path.open(encoding="utf-8-sig", newline="")  # utf-8-sig: with or without BOM
    except OSError as exc:
        raise InputError(
            f"{path}: cannot read the subscriber list: {exc.strerror}",
            "create it with a header row 'email,name' or set 'subscribers'",
        ) from None
    try:
        with handle:
            reader = csv.reader(handle)
            header = next(reader, None) or []
            if "email" not in header_columns(header):
                raise InputError(
                    f"{path}:1: the header row has no 'email' column",
                    "the first row names the columns, e.g. 'email,name'",
                )
            yield reader, header
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})", "save it as UTF-8"
        ) from None
    except csv.Error as exc:
        raise InputError(f"{path}:{reader.line_num}: not valid CSV: {exc}") from None


def header_columns(header: list[str]) -> list[str]:
    return [clean_field(c).lower() for c in header]


def _subscriber(
    where: str, line: int, columns: list[str], row: list[str], seen: DigestSet
) -> Subscriber | BadRow:
    if len(row) > len(columns):
        return BadRow(where, f"{len(row)} values but the header has {len(columns)} columns")
    fields = {col: clean_field(value) for col, value in zip(columns, row, strict=False)}
    raw = fields.get("email", "")
    if not raw:
        return BadRow(where, "no email address")
    try:
        email = normalise_address(raw)
    except ValueError as exc:
        return BadRow(where, f"invalid address {raw!r}: {exc}")
    status_text = fields.get("status", "").lower() or SubscriberStatus.ACTIVE.value
    status = _STATUSES.get(status_text)
    if status is None:
        return BadRow(
            where, f"unknown status {status_text!r} (use active, unsubscribed or bounced)"
        )
    if not seen.add(email.lower()):
        return BadRow(where, f"duplicate of an earlier row for {email}")
    fields["email"] = email
    return Subscriber(email, fields.get("name", ""), status, fields, line)

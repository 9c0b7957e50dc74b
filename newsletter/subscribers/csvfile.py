"""The subscriber CSV, streamed row by row and validated.

The CSV is the truth for who is on the list. It is never held in memory whole: a million
rows stream through at constant memory, duplicates found with a compact set of 64-bit
digests rather than a Python set of strings.

A bad row is that row's problem: an invalid address, a duplicate, bytes that are not UTF-8,
a row with more values than the header, a quoted value that swallows what look like rows
(an unbalanced quote) or one the csv module cannot parse. Each becomes a ``BadRow`` naming
its ``file:line``, and reading goes on with the next row.
"""

from __future__ import annotations

import codecs
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
# Bytes that are not UTF-8 are read as lone surrogates (errors="surrogateescape", PEP 383):
# U+DC80..U+DCFF stand for the bytes 0x80..0xFF, so a bad row is found, named and skipped
# and a rewrite writes the same bytes back.
_UNDECODED = re.compile("[\udc80-\udcff]")
_STATUSES = {s.value: s for s in SubscriberStatus}
CHUNK = 1 << 18  # bytes read at a time by the encoding scan (256 KiB: a few MB of memory)


@dataclass(frozen=True, slots=True)
class BadRow:
    """A CSV row that cannot be used: ``where`` is ``file:line`` (``line`` the number)."""

    where: str
    reason: str
    line: int = 0

    def __str__(self) -> str:
        return f"{self.where}: {self.reason}"


class UndecodableText(ValueError):
    """Text holding bytes that are not UTF-8 (read with ``surrogateescape``)."""

    def __init__(self, byte: int) -> None:
        super().__init__(f"not UTF-8 text: byte 0x{byte:02x}")
        self.byte = byte


def normalise_address(raw: str) -> str:
    """Validate an address (no network) and return its normalised form.

    Raises:
        ValueError: the address is invalid; the message says why, without a final period
            (email-validator's sentences end with one; ours append "; skipped" and the like).
    """
    raw = raw.strip()
    if len(raw) <= 254 and _PLAIN.fullmatch(raw):
        local, domain = raw.rsplit("@", 1)
        lower = domain.lower()
        # an IDNA A-label (xn--) takes the full validator, which gives the Unicode form:
        # both spellings of a domain are then one address (an unsubscribe holds for both)
        if (
            lower.rsplit(".", 1)[-1] not in _SPECIAL_USE
            and len(local) <= 64
            and ".xn--" not in f".{lower}"
        ):
            return f"{local}@{lower}"
    try:
        return validate_email(raw, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise ValueError(str(exc).rstrip(". ")) from None


def clean_field(value: str) -> str:
    """Remove control characters (CR/LF included): no merge field can inject a header.

    Raises:
        UndecodableText: the value holds bytes that are not UTF-8 (see ``_UNDECODED``).
    """
    if value.isprintable():  # no control character in it (~0.1 µs; the regex costs ~1)
        return value.strip()
    if bad := _UNDECODED.search(value):  # surrogates are not printable: only checked here
        raise UndecodableText(ord(bad.group()) - 0xDC00)
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
    cheap pass over the file, without validating rows (values that are not UTF-8 are left
    out: their rows are bad and get no mail).

    Raises:
        InputError: as ``read_subscribers``.
    """
    with open_csv(path) as (reader, columns):
        if column not in columns:
            return set()
        index = columns.index(column)
        values = (row[index] for row in reader if len(row) > index)
        return {clean_field(v) for v in values if not _UNDECODED.search(v)}


def read_subscribers(path: Path, expected: int = 0) -> Iterator[Subscriber | BadRow]:
    """Stream the CSV: yield a Subscriber per usable row, a BadRow per unusable one.

    Raises:
        InputError: the file is missing or unreadable, or its header row is unusable (no
            ``email`` column, not UTF-8). Anything wrong in a later row is that row's BadRow.
    """
    with open_csv(path) as (reader, header):
        columns = header_columns(header)
        email_at = columns.index("email")
        seen = DigestSet(expected)  # sized from the row count when the caller knows it
        start = reader.line_num + 1
        while True:
            try:
                for row in reader:
                    line, start = start, reader.line_num + 1  # a quoted value may span lines
                    if start - line > 1 and swallows_rows(row, email_at):
                        yield BadRow(f"{path}:{line}", swallowed(line, start), line)
                    elif any(cell.strip() for cell in row):
                        yield _subscriber(f"{path}:{line}", line, columns, row, seen)
                return
            except csv.Error as exc:  # the reader starts afresh on the next line
                line, start = start, reader.line_num + 1
                yield BadRow(f"{path}:{line}", _csv_error(exc, line, start - 1), line)


def _csv_error(exc: csv.Error, line: int, last: int) -> str:
    through = f" (lines {line}-{last} skipped)" if last > line else ""
    hint = " (an unbalanced quote?)" if "field limit" in str(exc) else ""
    return f"not valid CSV: {exc}{hint}{through}"


def swallows_rows(row: list[str], email_at: int, delimiter: str = ",") -> bool:
    """Whether a quoted value of this multi-line row holds lines that look like rows of
    their own (an address where the ``email`` column is): the csv module reads an
    unbalanced quote as a value running on to the next quote, or to the end of the file,
    without an error. A note that merely spans lines is fine."""
    for cell in row:
        continuation = cell.splitlines()[1:]
        if any(_looks_like_row(text, email_at, delimiter) for text in continuation):
            return True
    return False


def swallowed(line: int, next_line: int) -> str:
    """The reason for a row from ``line`` that ``swallows_rows`` up to ``next_line``."""
    lines = f"line {line + 1}" if next_line - line == 2 else f"lines {line + 1}-{next_line - 1}"
    return f"unbalanced quote swallows {lines} (close the quote or remove it)"


def _looks_like_row(text: str, email_at: int, delimiter: str) -> bool:
    if "@" not in text:
        return False
    cells = next(csv.reader([text], delimiter=delimiter), [])
    if len(cells) <= email_at:
        return False
    try:
        normalise_address(cells[email_at])
    except ValueError:
        return False
    return True


def encoding_problems(path: Path) -> Iterator[BadRow]:
    """Every line holding bytes that are not UTF-8, found in one fast pass over the bytes
    (~0.05 s for a million rows) so a send can report them before its first message.

    Reads chunks cut after a newline (a newline byte never occurs inside a UTF-8 sequence,
    so no sequence is cut). Unreadable files yield nothing (``read_subscribers`` says why).
    """
    try:
        handle = path.open("rb")
    except OSError:
        return
    with handle:
        lines, offset, carry = 0, 0, b""
        for block in iter(lambda: handle.read(CHUNK), b""):
            data = carry + block
            cut = data.rfind(b"\n") + 1 or _whole_sequences(data)
            chunk, carry = data[:cut], data[cut:]
            yield from _chunk_problems(path, chunk, lines, offset)
            lines, offset = lines + chunk.count(b"\n"), offset + len(chunk)
        yield from _chunk_problems(path, carry, lines, offset)


def _whole_sequences(data: bytes) -> int:
    """Where to cut a chunk without a newline so that no UTF-8 sequence is split."""
    end = len(data)
    for back in range(1, min(4, end) + 1):
        byte = data[end - back]
        if byte < 0x80:
            return end
        if byte >= 0xC0:  # a lead byte: cut before it when its sequence is incomplete
            length = 2 if byte < 0xE0 else 3 if byte < 0xF0 else 4
            return end if back >= length else end - back
    return end


def _chunk_problems(path: Path, chunk: bytes, lines: int, offset: int) -> Iterator[BadRow]:
    view = memoryview(chunk)
    position = 3 if offset == 0 and chunk.startswith(b"\xef\xbb\xbf") else 0
    counted, line, last = 0, lines + 1, 0  # newlines are counted up to ``counted``
    while position < len(chunk):
        try:
            codecs.utf_8_decode(view[position:], "strict", True)
            return
        except UnicodeDecodeError as exc:
            at = position + exc.start
            line += chunk.count(b"\n", counted, at)
            counted = at
            if line != last:  # one report a line
                where = f"byte 0x{chunk[at]:02x} at byte {offset + at:,} of the file"
                reason = f"not UTF-8 text: {where} (save the file as UTF-8)"
                yield BadRow(f"{path}:{line}", reason, line)
            last, position = line, position + exc.end


@contextmanager
def open_csv(path: Path, record: list[str] | None = None) -> Iterator[tuple[Any, list[str]]]:
    """A csv reader past the header row, and the header as written; errors: InputError.

    ``record``, when given, receives every raw line the reader takes (the caller clears
    it per row): a rewrite copies rows it does not change byte for byte.
    """
    try:
        # utf-8-sig: with or without BOM; surrogateescape: see _UNDECODED
        handle = path.open(encoding="utf-8-sig", errors="surrogateescape", newline="")
    except OSError as exc:
        raise InputError(
            f"{path}: cannot read the subscriber list: {exc.strerror}",
            "create it with a header row 'email,name' or set 'subscribers'",
        ) from None
    reader: Any = None
    try:
        with handle:
            reader = csv.reader(handle if record is None else _recorded(handle, record))
            header = next(reader, None) or []
            _check_header(path, header)
            yield reader, header
    except csv.Error as exc:
        line = reader.line_num if reader is not None else 1
        raise InputError(f"{path}:{line}: not valid CSV: {exc}") from None


def _recorded(lines: Iterator[str], record: list[str]) -> Iterator[str]:
    for text in lines:
        record.append(text)
        yield text


def _check_header(path: Path, header: list[str]) -> None:
    if bad := _UNDECODED.search("".join(header)):
        raise InputError(
            f"{path}:1: not UTF-8 text: byte 0x{ord(bad.group()) - 0xDC00:02x} in the header row",
            "save the file as UTF-8",
        )
    if "email" not in header_columns(header):
        raise InputError(
            f"{path}:1: the header row has no 'email' column",
            "the first row names the columns, e.g. 'email,name'",
        )


def header_columns(header: list[str]) -> list[str]:
    return [clean_field(c).lower() for c in header]


def _subscriber(
    where: str, line: int, columns: list[str], row: list[str], seen: DigestSet
) -> Subscriber | BadRow:
    if len(row) > len(columns) and any(cell.strip() for cell in row[len(columns) :]):
        # empty cells past the header (a trailing comma) lose nothing: the row is kept
        return BadRow(where, f"{len(row)} values but the header has {len(columns)} columns", line)
    try:
        fields = {col: clean_field(value) for col, value in zip(columns, row, strict=False)}
    except UndecodableText as exc:
        return BadRow(where, f"{exc} in this row (save the file as UTF-8)", line)
    raw = fields.get("email", "")
    if not raw:
        return BadRow(where, "no email address", line)
    try:
        email = normalise_address(raw)
    except ValueError as exc:
        return BadRow(where, f"invalid address {raw!r}: {exc}", line)
    status_text = fields.get("status", "").lower() or SubscriberStatus.ACTIVE.value
    status = _STATUSES.get(status_text)
    if status is None:
        return BadRow(
            where, f"unknown status {status_text!r} (use active, unsubscribed or bounced)", line
        )
    if not seen.add(email.lower()):
        return BadRow(where, f"duplicate of an earlier row for {email}", line)
    fields["email"] = email
    return Subscriber(email, fields.get("name", ""), status, fields, line)

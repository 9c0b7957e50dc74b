"""Adapter: the subscriber CSV, streamed row by row and validated.

The CSV is the truth for who is on the list. It is never held in memory whole: a million
rows stream through at constant memory, duplicates found with a compact set of 64-bit
digests rather than a Python set of strings.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import os
import re
import stat
import tempfile
from array import array
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from email_validator import EmailNotValidError, validate_email

from ..errors import InputError
from ..models import Subscriber, SubscriberStatus

# Plain ASCII addresses (nearly all of them) skip email-validator's ~30 µs: the pattern
# accepts only what email-validator accepts too, and normalises the same way (the domain
# lower-cased). Anything else takes the full validator. tests/test_subscribers.py checks
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
    with _open_csv(path) as (_, header):
        return _columns(header)


def column_values(path: Path, column: str) -> set[str]:
    """The distinct values of one column (empty set when there is no such column); a
    cheap pass over the file, without validating rows.

    Raises:
        InputError: as ``read_subscribers``.
    """
    with _open_csv(path) as (reader, columns):
        if column not in columns:
            return set()
        index = columns.index(column)
        return {clean_field(row[index]) for row in reader if len(row) > index}


def read_subscribers(path: Path, expected: int = 0) -> Iterator[Subscriber | BadRow]:
    """Stream the CSV: yield a Subscriber per usable row, a BadRow per unusable one.

    Raises:
        InputError: the file is missing, unreadable, not UTF-8, or has no ``email`` column.
    """
    with _open_csv(path) as (reader, header):
        columns = _columns(header)
        seen = DigestSet(expected)  # sized from the row count when the caller knows it
        start = reader.line_num + 1
        for row in reader:
            line, start = start, reader.line_num + 1  # a quoted value may span lines
            if any(cell.strip() for cell in row):
                yield _subscriber(f"{path}:{line}", line, columns, row, seen)


@contextmanager
def _open_csv(path: Path) -> Iterator[tuple[Any, list[str]]]:
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
            if "email" not in _columns(header):
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


def _columns(header: list[str]) -> list[str]:
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


# --- rewriting the list ------------------------------------------------------------------
# Every change streams the old file into a temp file in the same folder and renames it over
# the original: a crash leaves either the old list or the new one, never half of one. Rows
# are copied cell by cell, so columns this project does not know survive every rewrite.
# Callers hold the run lock (pipeline/membership): a send never reads a file mid-rewrite.

Row = dict[str, str]  # lower-cased column -> value; extra keys become new columns
Edit = Callable[[Row], Row | None]  # a changed row, or None to drop it


@dataclass(slots=True)
class EditReport:
    """What a rewrite did, by lower-cased address."""

    changed: set[str] = field(default_factory=set)
    removed: set[str] = field(default_factory=set)
    added: list[str] = field(default_factory=list)


def edit_list(
    path: Path,
    edits: Mapping[str, Edit],
    additions: Iterable[Row] = (),
    new_columns: Iterable[str] = (),
) -> EditReport:
    """Rewrite the CSV atomically: apply ``edits[email.lower()]`` to matching rows, append
    ``additions`` (each with an ``email``), add ``new_columns`` to the header.

    Unparseable rows are copied unchanged (``check`` reports them; a rewrite never loses a
    row). Raises:
        InputError: the file is missing or unreadable, or cannot be written.
    """
    report = EditReport()
    bom = _has_bom(path)
    with _open_csv(path) as (reader, header):
        known = _columns(header)
        header = header + [c for c in dict.fromkeys(new_columns) if c not in known]
        columns = _columns(header)

        def rows() -> Iterator[list[str]]:
            yield header
            for row in reader:
                yield _edited(row, columns, edits, report)
            for new in additions:
                report.added.append(new["email"])
                yield [new.get(c, "") for c in columns]

        _atomic_write(path, (r for r in rows() if r), bom)
    return report


def _edited(row: list[str], columns: list[str], edits: Mapping[str, Edit], report: EditReport):
    """The row after its edit ([] when removed); rows without an edit are copied as read."""
    if "email" not in columns:
        return row
    i = columns.index("email")
    raw = row[i].strip() if i < len(row) else ""
    try:
        key = normalise_address(raw).lower() if raw else ""
    except ValueError:
        key = raw.lower()
    edit = edits.get(key)
    if edit is None:
        return row + [""] * (len(columns) - len(row)) if len(row) < len(columns) else row
    before = dict(zip(columns, row, strict=False))
    after = edit(dict(before))
    if after is None:
        report.removed.add(key)
        return []
    if after != before:
        report.changed.add(key)
    extra = row[len(columns) :]  # cells beyond the header (a bad row) are kept as they were
    return [after.get(c, "") for c in columns] + extra


def set_status(path: Path, statuses: Mapping[str, SubscriberStatus]) -> set[str]:
    """Set the status of these addresses (any case); return the lower-cased ones changed.

    Addresses not on the list are ignored. Used by unsubscribes and by bounce handling.
    Raises:
        InputError: as ``edit_list``.
    """

    def to(status: SubscriberStatus) -> Edit:
        return lambda row: {**row, "status": status.value}

    edits = {email.lower(): to(status) for email, status in statuses.items()}
    return edit_list(path, edits, new_columns=["status"]).changed


def _has_bom(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            return handle.read(3) == b"\xef\xbb\xbf"
    except OSError:
        return False


def _atomic_write(path: Path, rows: Iterable[list[str]], bom: bool) -> None:
    """Write rows to a temp file beside ``path``, fsync it, give it the original's mode,
    rename it over ``path`` and fsync the folder (so the rename itself survives a crash).

    Raises:
        InputError: the folder is not writable or the disk is full; the original is intact.
    """
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        mode = 0o644
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise InputError(
            f"{path.parent}: cannot write the subscriber list: {exc.strerror}"
        ) from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8-sig" if bom else "utf-8", newline="") as out:
            csv.writer(out, lineterminator="\n").writerows(rows)
            out.flush()
            os.fchmod(out.fileno(), mode)  # mkstemp creates 0600
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise InputError(f"{path}: cannot rewrite the subscriber list: {exc.strerror}") from None
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def create_list(path: Path) -> None:
    """Create an empty list (header only) when ``path`` does not exist."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        _atomic_write(path, [["email", "name", "status"]], bom=False)


def find_subscriber(path: Path, email: str) -> Subscriber | None:
    """The row for this address (any case), or None. Raises: InputError."""
    key = email.lower()
    for row in read_subscribers(path):
        if isinstance(row, Subscriber) and row.email.lower() == key:
            return row
    return None


def add_subscriber(
    path: Path, email: str, name: str, fields: Mapping[str, str], resubscribe: bool = False
) -> str:
    """Add an address (or update its name and fields); return what happened.

    Someone unsubscribed or bounced stays so unless ``resubscribe`` (they asked to be back).
    Raises:
        ValueError: the address is invalid.
        InputError: the address is unsubscribed/bounced and ``resubscribe`` is false; or
            the file cannot be read or written.
    """
    email = normalise_address(email)
    values = {k.lower(): clean_field(v) for k, v in fields.items()}
    if name:
        values["name"] = clean_field(name)
    existing = find_subscriber(path, email)
    if existing is None:
        row = {"email": email, "status": SubscriberStatus.ACTIVE.value, **values}
        edit_list(path, {}, [row], new_columns=list(row))
        return "added"
    if existing.status is not SubscriberStatus.ACTIVE and not resubscribe:
        raise InputError(
            f"{path}:{existing.line}: {existing.email} is {existing.status.value}; not changed",
            "use --resubscribe only when they asked to receive the newsletter again",
        )
    values["status"] = SubscriberStatus.ACTIVE.value
    edit_list(path, {email.lower(): lambda r: {**r, **values}}, new_columns=list(values))
    return "updated" if existing.status is SubscriberStatus.ACTIVE else "resubscribed"


def remove_subscriber(path: Path, email: str) -> bool:
    """Delete the address's row; False when it was not on the list. Raises: InputError."""
    try:
        key = normalise_address(email).lower()
    except ValueError:
        key = email.strip().lower()
    return bool(edit_list(path, {key: lambda _: None}).removed)

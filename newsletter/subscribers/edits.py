"""Rewriting the subscriber CSV: edit rows, add, remove, set statuses.

Every change streams the old file into a temp file in the same folder and renames it over
the original: a crash leaves either the old list or the new one, never half of one. Rows
are copied cell by cell, so columns this project does not know survive every rewrite.
Callers hold the run lock (the job, list changes): a send never reads a file mid-rewrite.
"""

from __future__ import annotations

import contextlib
import csv
import os
import stat
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError
from ..models import Subscriber, SubscriberStatus
from .csvfile import clean_field, header_columns, normalise_address, open_csv, read_subscribers

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
    with open_csv(path) as (reader, header):
        known = header_columns(header)
        header = header + [c for c in dict.fromkeys(new_columns) if c not in known]
        columns = header_columns(header)

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

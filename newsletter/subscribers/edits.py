"""Rewriting the subscriber CSV: edit rows, add, remove, set statuses.

Every change streams the old file into a temp file in the same folder and renames it over
the original: a crash leaves either the old list or the new one, never half of one (and a
temp file, which the next locked run removes: ``remove_stale_temps``). Rows no edit touches
are copied as written, so columns this project does not know, quoting, line ends and even
rows it cannot read survive every rewrite. Callers hold the run lock (the job, list
changes): a send never reads a file mid-rewrite.
"""

from __future__ import annotations

import contextlib
import csv
import io
import itertools
import os
import re
import stat
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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

    Rows without a change are copied byte for byte (their quoting, line ends, even bytes
    that are not UTF-8 and a stray quote the user still has to fix), padded with empty
    cells for new columns when they are one plain line; changed and new rows are written
    by the csv module with the file's own line end. Rows it cannot parse are copied too
    (``check`` reports them; a rewrite never loses a row). Raises:
        InputError: the file is missing or unreadable, or cannot be written.
    """
    report = EditReport()
    bom = _has_bom(path)
    raw: list[str] = []  # the lines of the row just read, as written
    with open_csv(path, record=raw) as (reader, header):
        known = header_columns(header)
        added_columns = [c for c in dict.fromkeys(new_columns) if c not in known]
        header_text = "".join(raw)
        end = "\r\n" if header_text.endswith("\r\n") else "\n"
        text = _line(header + added_columns, end) if added_columns else _ended(header_text, end)
        plan = _Rewrite(path, known + added_columns, end, report)
        rows = plan.rows(reader, raw, edits, "," * len(added_columns))
        _atomic_write(path, itertools.chain([text], rows, plan.appended(additions)), bom)
    return report


@dataclass(slots=True)
class _Rewrite:
    """One rewrite's rows: the old ones edited or as written, then the additions."""

    path: Path
    columns: list[str]
    end: str  # the file's line end
    report: EditReport
    last: str = ""  # the last row as written, and its first line
    line: int = 1

    def rows(
        self, reader: Any, raw: list[str], edits: Mapping[str, Edit], pad: str
    ) -> Iterator[str]:
        for start, row, text in _rows_as_written(reader, raw):
            self.last, self.line = text, start
            cells = _edited(row, self.columns, edits, self.report) if row is not None else None
            if cells is None:
                yield _padded(text, pad, self.end) if row is not None else _ended(text, self.end)
            elif cells:
                yield _line(cells, self.end)

    def appended(self, additions: Iterable[Row]) -> Iterator[str]:
        for new in additions:
            if not self.report.added and _quote_open_at_end(self.last):
                raise InputError(
                    f"{self.path}:{self.line}: a quote opened here runs to the end of the file: "
                    "a row added after it would become part of this one; nothing changed",
                    "close the quote or remove it (see 'newsletter subscribers check')",
                )
            self.report.added.append(new["email"])
            yield _line([new.get(c, "") for c in self.columns], self.end)


def _rows_as_written(reader: Any, raw: list[str]) -> Iterator[tuple[int, list[str] | None, str]]:
    """Each row's first line, the row (None when the csv module cannot parse it) and its
    text as written."""
    raw.clear()
    while True:
        start = reader.line_num + 1
        try:
            for row in reader:
                text = "".join(raw)
                raw.clear()
                yield start, row, text
                start = reader.line_num + 1
            return
        except csv.Error:  # the reader starts afresh on the next line
            text = "".join(raw)
            raw.clear()
            yield start, None, text


def _quote_open_at_end(text: str) -> bool:
    """Whether the csv module would read a line written after ``text`` (the file's last
    row) as part of it: a quote left open to the end of the file."""
    ended = _ended(text, "\n") if text else ""
    try:
        alone = sum(1 for _ in csv.reader(io.StringIO(ended, newline="")))
        joined = sum(1 for _ in csv.reader(io.StringIO(ended + "x\n", newline="")))
    except csv.Error:
        return False
    return joined == alone


def _line(cells: list[str], end: str) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator=end).writerow(cells)
    return out.getvalue()


def _ended(text: str, end: str) -> str:
    """``text`` with a line end (the file's last line may lack one; rows may follow)."""
    return text if text.endswith(("\n", "\r")) else text + end


def _padded(text: str, pad: str, end: str) -> str:
    """An unchanged row with empty cells for new columns, when it is one line with its
    quotes balanced (anything else is copied as written: readers take missing cells as
    empty, and a stray quote must stay where the user can find it)."""
    body = text.rstrip("\r\n")
    if not pad or "\n" in body or "\r" in body or body.count('"') % 2:
        return _ended(text, end)
    return body + pad + (text[len(body) :] or end)


def _edited(
    row: list[str], columns: list[str], edits: Mapping[str, Edit], report: EditReport
) -> list[str] | None:
    """The row after its edit ([] when removed); None when it has no edit or the edit
    changed nothing (it is then copied as written)."""
    i = columns.index("email")
    raw = row[i].strip() if i < len(row) else ""
    try:
        key = normalise_address(raw).lower() if raw else ""
    except ValueError:
        key = raw.lower()
    edit = edits.get(key)
    if edit is None:
        return None
    before = dict(zip(columns, row, strict=False))
    after = edit(dict(before))
    if after is None:
        report.removed.add(key)
        return []
    if after == before:
        return None
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


TEMP_SUFFIX = ".tmp"
_MKSTEMP_NAME = "[a-z0-9_]{8}"  # tempfile's random part


def _atomic_write(path: Path, chunks: Iterable[str], bom: bool) -> None:
    """Write text to a temp file beside ``path`` (created 0600 by mkstemp, so the list is
    never readable by others on the way), fsync it, give it the original's mode, rename it
    over ``path`` and fsync the folder (so the rename itself survives a crash).

    Raises:
        InputError: the folder is not writable or the disk is full; the original is intact.
    """
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        mode = 0o600  # a new list holds personal data: owner-only
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent)
    except OSError as exc:
        raise InputError(
            f"{path.parent}: cannot write the subscriber list: {exc.strerror}"
        ) from None
    encoding = "utf-8-sig" if bom else "utf-8"
    try:
        with os.fdopen(fd, "w", encoding=encoding, errors="surrogateescape", newline="") as out:
            out.writelines(chunks)
            out.flush()
            os.fsync(out.fileno())
            os.fchmod(out.fileno(), mode)
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


def remove_stale_temps(path: Path) -> list[Path]:
    """Delete the temp files an interrupted rewrite of ``path`` left behind (killed between
    mkstemp and the rename: each holds a copy of the whole list); return them.

    Only ours are touched: regular files (not links) in the list's folder, owned by this
    user, named ``.<list name>.<mkstemp's 8 characters>.tmp``. Call it under the run lock:
    every rewrite holds it, so no temp file is still being written.
    """
    pattern = re.compile(rf"\.{re.escape(path.name)}\.{_MKSTEMP_NAME}{re.escape(TEMP_SUFFIX)}")
    removed: list[Path] = []
    try:
        entries = list(os.scandir(path.parent))
    except OSError:
        return removed
    for entry in entries:
        if not pattern.fullmatch(entry.name):
            continue
        with contextlib.suppress(OSError):
            info = entry.stat(follow_symlinks=False)
            if stat.S_ISREG(info.st_mode) and info.st_uid == os.geteuid():
                os.unlink(entry.path)
                removed.append(Path(entry.path))
    return removed


def create_list(path: Path) -> None:
    """Create an empty list (header only, owner-only) when ``path`` does not exist."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        _atomic_write(path, ["email,name,status\n"], bom=False)


def find_subscriber(path: Path, email: str) -> Subscriber | None:
    """The row for this address (any case), or None. Raises: InputError."""
    return find_subscribers(path, [email]).get(email.lower())


def find_subscribers(path: Path, emails: Iterable[str]) -> dict[str, Subscriber]:
    """The rows of these addresses (lower-cased address -> its first usable row), in one
    streaming pass that stops once all are found; an address not on the list has none.
    Raises: InputError."""
    wanted = {e.lower() for e in emails}
    found: dict[str, Subscriber] = {}
    if not wanted:
        return found
    for row in read_subscribers(path):
        if isinstance(row, Subscriber) and row.email.lower() in wanted:
            found.setdefault(row.email.lower(), row)
            if len(found) == len(wanted):
                break
    return found


@dataclass(frozen=True, slots=True)
class Added:
    """What ``add_subscriber`` did: ``outcome`` is added, updated, unchanged or
    resubscribed; ``email`` as the list spells it; ``columns`` the values that changed."""

    outcome: str
    email: str
    columns: tuple[str, ...] = ()


def add_subscriber(
    path: Path, email: str, name: str, fields: Mapping[str, str], resubscribe: bool = False
) -> Added:
    """Add an address, or update its name and fields.

    Addresses match as everywhere in the list: normalised, then in any case
    (``Bob@Example.com`` is the row ``bob@example.com``); an existing row keeps its spelling.
    Someone unsubscribed or bounced stays so unless ``resubscribe`` (they asked to be back).
    Raises:
        ValueError: the address is invalid, or a value is not text (UndecodableText).
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
        return Added("added", email)
    if existing.status is not SubscriberStatus.ACTIVE and not resubscribe:
        raise InputError(
            f"{path}:{existing.line}: {existing.email} is {existing.status.value}; not changed",
            "use --resubscribe only when they asked to receive the newsletter again",
        )
    if existing.status is not SubscriberStatus.ACTIVE:
        values["status"] = SubscriberStatus.ACTIVE.value
    changed = tuple(k for k, v in values.items() if existing.fields.get(k, "") != v)
    if changed:
        edit_list(path, {email.lower(): lambda r: {**r, **values}}, new_columns=list(values))
    if existing.status is not SubscriberStatus.ACTIVE:
        return Added("resubscribed", existing.email)
    return Added("updated" if changed else "unchanged", existing.email, changed)


def remove_subscriber(path: Path, email: str) -> Row | None:
    """Delete the address's row; return it as it was (None when not on the list).

    Raises: InputError."""
    try:
        key = normalise_address(email).lower()
    except ValueError:
        key = email.strip().lower()
    removed: list[Row] = []

    def drop(row: Row) -> None:
        removed.append(row)

    edit_list(path, {key: drop})
    return removed[0] if removed else None

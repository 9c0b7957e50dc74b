"""Changes to the list: the CSV, the suppressions table, the run lock.

The CSV is the truth for who is on the list and is only rewritten under the run lock, the
same lock a send holds for its whole run (an hour for a big list). An unsubscribe must not
wait for that, so it is recorded at once in SQLite (``suppressions``) and:

- a running send consults the table before every message (store.Suppressions), so mail
  stops from the next message on;
- the CSV is rewritten right away when the lock is free, else by the send itself when it
  ends (and at the start of every run, and by ``serve`` every minute): ``apply_pending``.

Additions, removals and imports need the lock outright: during a send they exit 3. The
record of who left outlives the CSV row (``consent``): ``add`` and imports refuse such an
address, a removed row's opt-out is remembered, and a send skips the address whatever the
CSV says.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from ..errors import InputError, LockedError
from ..models import Subscriber, SubscriberStatus
from ..store.consents import Consents
from ..store.database import Store
from ..store.lock import lock_path, run_lock
from ..store.suppressions import COMPLAINT, Left, Suppressions
from .consent import refuse_if_left, with_records
from .csvfile import BadRow, clean_field, normalise_address, read_subscribers
from .edits import (
    Added,
    Edit,
    Row,
    add_subscriber,
    create_list,
    edit_list,
    find_subscriber,
    remove_stale_temps,
    remove_subscriber,
    set_status,
)
from .imports import Export, ImportRow, parse_export

log = logging.getLogger("newsletter")
Report = Callable[[str], None]
OPTED_OUT = (SubscriberStatus.UNSUBSCRIBED.value, SubscriberStatus.BOUNCED.value)


@dataclass(frozen=True, slots=True)
class ListFiles:
    """Where the list lives: the subscriber CSV, and the database that records who left
    (its lock file, beside it, serialises every writer of both)."""

    subscribers: Path
    database: Path

    @property
    def lock(self) -> Path:
        return lock_path(self.database)


def apply_pending(files: ListFiles, store: Store, now: datetime) -> int:
    """Write recorded sign-ups, unsubscribes and bounces into the CSV; the caller holds
    the lock.

    First removes the temp files an interrupted rewrite left (every locked run starts
    here). Confirmed sign-ups go first, then who left: a confirmation lifts the record of
    who left when it is made, so a record still there is newer and wins. Returns how many
    rows changed. Raises:
        InputError: the CSV cannot be read or written (the records stay pending).
    """
    for stale in remove_stale_temps(files.subscribers):
        log.info("%s: removed, left by an interrupted rewrite of the list", stale)
    joined = _apply_confirmations(files, store, now)
    table = Suppressions(store)
    pending = table.pending()
    if not pending:
        return joined
    statuses = {email: _csv_status(status) for email, status in pending.items()}
    changed = set_status(files.subscribers, statuses)
    table.mark_applied(pending, now)
    return joined + len(changed)


def _csv_status(status: str) -> SubscriberStatus:
    """The CSV's word for a record: a complaint is an unsubscribe there."""
    return SubscriberStatus.UNSUBSCRIBED if status == COMPLAINT else SubscriberStatus(status)


def _apply_confirmations(files: ListFiles, store: Store, now: datetime) -> int:
    """Add (or make active again) the rows of confirmed sign-ups not in the CSV yet; one
    whose address left again since is skipped (its record wins). Raises: InputError."""
    consents = Consents(store)
    pending = consents.pending()
    if not pending:
        return 0
    left = Suppressions(store).lookup([c.email for c in pending])
    create_list(files.subscribers)
    changed = 0
    for consent in pending:
        if consent.email.lower() not in left:
            done = add_subscriber(
                files.subscribers, consent.email, consent.name, consent.fields, resubscribe=True
            )
            changed += done.outcome != "unchanged"
    consents.mark_applied([c.email for c in pending], now)
    return changed


@dataclass(frozen=True, slots=True)
class Unsubscribed:
    """The outcome of an unsubscribe: new or repeated, and whether the CSV is updated yet."""

    email: str
    new: bool
    applied: bool


def unsubscribe(files: ListFiles, email: str, source: str, now: datetime) -> Unsubscribed:
    """Unsubscribe an address at once; update the CSV now if no send holds the lock.

    Raises:
        InputError: the CSV cannot be rewritten (the unsubscribe is recorded all the same
            and a send still skips the address).
    """
    with Store(files.database) as store:
        new = Suppressions(store).record(email, SubscriberStatus.UNSUBSCRIBED, source, now)
        return Unsubscribed(email, new, applied=apply_when_free(files, store, now))


def apply_when_free(files: ListFiles, store: Store, now: datetime) -> bool:
    """``apply_pending`` over ``store`` right away when the run lock is free; False when a
    run holds it (that run writes the records into the CSV when it ends).

    Raises:
        InputError: the CSV cannot be rewritten (the records stay pending).
    """
    try:
        with run_lock(files.lock):
            apply_pending(files, store, now)
    except LockedError:
        return False
    return True


def apply_if_free(files: ListFiles, now: datetime) -> int | None:
    """``apply_pending`` when the lock is free; None when a run holds it."""
    try:
        with run_lock(files.lock), Store(files.database) as store:
            return apply_pending(files, store, now)
    except LockedError:
        return None


def add(
    files: ListFiles,
    email: str,
    name: str,
    fields: Mapping[str, str],
    resubscribe: bool,
    now: datetime,
) -> Added:
    """``subscribers add``: an address that unsubscribed or bounced (recorded in the
    database, whether or not its row is still in the CSV) is refused unless
    ``resubscribe``, which lifts the record once the row is active.

    Raises: LockedError, InputError, ValueError (bad address or value)."""
    with run_lock(files.lock), Store(files.database) as store:
        store.check_writable()
        apply_pending(files, store, now)
        create_list(files.subscribers)
        table = Suppressions(store)
        left = table.record_of(email) is not None
        if not resubscribe:
            refuse_if_left(table, email, files.database)
        done = add_subscriber(files.subscribers, email, name, fields, resubscribe)
        if resubscribe and left:
            table.forget(email)  # after the row is active: a failure leaves them out, not in
            return Added("resubscribed", done.email, done.columns)
        return done


def remove(files: ListFiles, email: str, now: datetime) -> Row | None:
    """``subscribers remove``: the row goes (returned; None when not on the list); an
    opt-out it held is remembered in the database, so the address cannot come back
    without ``--resubscribe``.

    Raises: LockedError, InputError."""
    with run_lock(files.lock), Store(files.database) as store:
        store.check_writable()
        apply_pending(files, store, now)
        # the opt-out is recorded before the row goes: if the database cannot take it, the
        # row (and with it the opt-out) stays in the CSV
        found = find_subscriber(files.subscribers, email)
        if found is not None and found.status.value in OPTED_OUT:
            opted_out = {found.email: found.status.value}
            Suppressions(store).remember(_valid(opted_out), "removed row", now)
        return remove_subscriber(files.subscribers, email)


def import_export(
    files: ListFiles, path: Path, forced: str | None, now: datetime
) -> tuple[Export, MergeReport]:
    """``subscribers import``: detect the export's format and merge it in.

    Raises:
        LockedError; InputError: the file cannot be read or parsed, or the list written.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read the export: {exc.strerror}") from None
    export = parse_export(data, str(path), forced)
    with run_lock(files.lock), Store(files.database) as store:
        store.check_writable()
        apply_pending(files, store, now)
        create_list(files.subscribers)
        table = Suppressions(store)
        # the export's opt-outs are recorded before the list changes (see ``remove``)
        opted_out = {r.email: r.status.value for r in export.rows if r.status.value in OPTED_OUT}
        table.remember(_valid(opted_out), f"import {path.name}", now)
        report = merge_import(files.subscribers, str(path), export.rows, table.known)
    return export, report


def _valid(statuses: Mapping[str, str]) -> dict[str, str]:
    """The entries whose address is valid, normalised (an invalid one is never mailed)."""
    valid = {}
    for email, status in statuses.items():
        try:
            valid[normalise_address(email)] = status
        except ValueError:
            continue
    return valid


def rows(files: ListFiles) -> Iterator[tuple[Subscriber | BadRow, Left | None]]:
    """The list as read (no lock: reading never conflicts with an atomic rewrite), each
    active row with the database's record when its address left (which a send obeys)."""
    if not files.database.exists():
        yield from with_records(read_subscribers(files.subscribers), None)
        return
    with Store(files.database) as store:
        yield from with_records(read_subscribers(files.subscribers), Suppressions(store))


@dataclass(slots=True)
class Counts:
    """``subscribers count``: subscribers by the status a send acts on (the database's
    record wins over an active row), how many of those rows the CSV still calls active,
    and the unusable rows."""

    by_status: Counter[str]
    contradicted: int = 0
    bad: int = 0


def counts(files: ListFiles) -> Counts:
    result = Counts(Counter({s.value: 0 for s in SubscriberStatus}))
    for row, left in rows(files):
        if isinstance(row, BadRow):
            result.bad += 1
        elif left is not None:
            result.by_status[left.status] += 1
            result.contradicted += 1
        else:
            result.by_status[row.status.value] += 1
    return result


def mark_bounced(files: ListFiles, store: Store, emails: list[str], now: datetime) -> None:
    """For the delivery side (5.1.x replies): record the bounces; the CSV follows under the
    lock the caller holds. Raises: InputError (the records stay pending)."""
    table = Suppressions(store)
    for email in emails:
        table.record(email, SubscriberStatus.BOUNCED, "bounce", now)
    apply_pending(files, store, now)


# --- merging an import -------------------------------------------------------------------


@dataclass(slots=True)
class MergeReport:
    """What an import did; ``rejected`` lines read ``file:line: reason``."""

    added: int = 0
    updated: int = 0
    unchanged: int = 0
    duplicates: int = 0
    rejected: list[str] = field(default_factory=list)


def merge_import(
    path: Path, source: str, rows: Iterable[ImportRow], blocked: Callable[[str], bool]
) -> MergeReport:
    """Merge an export's rows into the list (one atomic rewrite).

    Existing rows keep their values and gain the import's for empty columns; an opt-out in
    the export (unsubscribed, bounced) is honoured; nobody is re-subscribed: not an
    unsubscribed row, nor an address ``blocked`` (unsubscribed earlier, then removed).
    Raises:
        InputError: the list cannot be read or written.
    """
    report = MergeReport()
    incoming = _validated(source, rows, report)
    seen: set[str] = set()

    def merge(key: str) -> Edit:
        def apply(row: Row) -> Row:
            seen.add(key)
            new = incoming[key]
            fresh = {k: v for k, v in new.items() if v and k != "_line"}
            merged = {**fresh, **{k: v for k, v in row.items() if v}}
            current = row.get("status", "").lower() or SubscriberStatus.ACTIVE.value
            if current == SubscriberStatus.ACTIVE.value:
                merged["status"] = new["status"]
            return merged

        return apply

    def additions() -> Iterator[Row]:
        for key, new in incoming.items():
            if key in seen:
                continue
            if new["status"] == SubscriberStatus.ACTIVE.value and blocked(key):
                report.rejected.append(
                    f"{source}:{new.pop('_line')}: {new['email']} unsubscribed or bounced earlier; "
                    "an import never re-subscribes anyone"
                )
                continue
            new.pop("_line", None)
            yield new

    columns = [c for new in incoming.values() for c in new if c != "_line"]
    done = edit_list(path, {k: merge(k) for k in incoming}, additions(), ["name", *columns])
    report.added = len(done.added)
    report.updated = len(done.changed)
    report.unchanged = len(seen) - len(done.changed)
    return report


def _validated(source: str, rows: Iterable[ImportRow], report: MergeReport) -> dict[str, Row]:
    """The export's rows by lower-cased address, validated; duplicates merged (an opt-out in
    any copy wins, later copies fill empty fields)."""
    incoming: dict[str, Row] = {}
    for row in rows:
        try:
            email = normalise_address(row.email)
        except ValueError as exc:
            report.rejected.append(f"{source}:{row.line}: invalid address {row.email!r}: {exc}")
            continue
        values = {k: clean_field(v) for k, v in row.fields.items()}
        values.update(email=email, name=clean_field(row.name), status=row.status.value)
        key = email.lower()
        if key in incoming:
            report.duplicates += 1
            old = incoming[key]
            opted_out = old["status"] != SubscriberStatus.ACTIVE.value
            incoming[key] = {**values, **{k: v for k, v in old.items() if v}}
            if not opted_out:
                incoming[key]["status"] = values["status"]
        else:
            incoming[key] = {**values, "_line": str(row.line)}
    return incoming

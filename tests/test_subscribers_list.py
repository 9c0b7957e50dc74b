"""`newsletter subscribers ...`: the list managed from the command line, the CSV rewritten
atomically and nothing the user put in it lost."""

from __future__ import annotations

import csv
import os

import pytest
from conftest import Project, lock_held
from email_validator import EmailNotValidError, validate_email

from newsletter.models import SubscriberStatus
from newsletter.subscribers.csvfile import clean_field, normalise_address
from newsletter.subscribers.edits import set_status


def rows(project: Project) -> list[dict[str, str]]:
    path = project.path / "subscribers" / "subscribers.csv"
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def by_email(project: Project) -> dict[str, dict[str, str]]:
    return {r["email"].lower(): r for r in rows(project)}


@pytest.mark.parametrize(
    "raw",
    [
        "ada@example.com",
        "Ada.Lovelace+news@Example.COM",
        "o'brien@example.ie",
        "x@localhost",
        "a@b.test",
        "a..b@example.com",
        ".a@example.com",
        "a@-example.com",
        "a@example.c",
        "a" * 65 + "@example.com",
        "zoë@example.com",
        "a@exämple.com",
        "user@[127.0.0.1]",
        "a@example.com.",
    ],
)
def test_the_fast_path_agrees_with_email_validator(raw: str) -> None:
    try:
        expected: str | None = validate_email(raw, check_deliverability=False).normalized
    except EmailNotValidError:
        expected = None
    try:
        got: str | None = normalise_address(raw)
    except ValueError:
        got = None
    assert got == expected


def test_add_list_count_and_unknown_columns_survive(project: Project) -> None:
    path = project.path / "subscribers" / "subscribers.csv"
    os.chmod(path, 0o640)

    added = project.run(
        "subscribers", "add", "New@Example.COM", "--name", "Né W", "--field", "plan=gold"
    )

    assert added.code == 0, added.err
    assert added.out.strip() == "added New@example.com"
    table = by_email(project)
    assert table["new@example.com"]["plan"] == "gold"  # a new column for everyone
    assert table["ada@example.com"]["city"] == "London"  # an unknown column kept
    assert table["linus@example.net"]["name"] == "Torvalds, Linus"
    assert oct(path.stat().st_mode & 0o777) == oct(0o640)  # mkstemp's 0600 not kept
    assert not [p for p in path.parent.iterdir() if p.name != "subscribers.csv"]  # no temp left
    listed = project.run("subscribers", "list", "--status", "active")
    assert "New@example.com\tNé W\tactive" in listed.out
    assert "alan@example.com" not in listed.out
    count = project.run("subscribers", "count")
    assert count.out.strip() == "5 active, 1 unsubscribed, 0 bounced"


def test_add_never_resubscribes_without_asking(project: Project) -> None:
    refused = project.run("subscribers", "add", "ALAN@example.com")
    assert refused.code == 2
    assert "subscribers.csv:6: alan@example.com is unsubscribed; not changed" in refused.err
    assert by_email(project)["alan@example.com"]["status"] == "unsubscribed"

    back = project.run("subscribers", "add", "alan@example.com", "--resubscribe")
    assert back.code == 0 and back.out.strip() == "resubscribed alan@example.com"
    assert by_email(project)["alan@example.com"]["status"] == "active"


def test_unsubscribe_and_remove_by_hand(project: Project) -> None:
    first = project.run("subscribers", "unsubscribe", "Ada@Example.com")
    again = project.run("subscribers", "unsubscribe", "ada@example.com")
    assert first.out.strip() == "unsubscribed ada@example.com"
    assert again.out.strip() == "ada@example.com was already unsubscribed"
    assert by_email(project)["ada@example.com"]["status"] == "unsubscribed"

    assert project.run("subscribers", "remove", "grace@example.org").code == 0
    assert "grace@example.org" not in by_email(project)
    missing = project.run("subscribers", "remove", "grace@example.org")
    assert missing.code == 2 and "grace@example.org is not on the list" in missing.err
    bad = project.run("subscribers", "unsubscribe", "not-an-address")
    assert bad.code == 2 and "invalid address 'not-an-address'" in bad.err


def test_check_reports_every_bad_row_with_file_and_line_and_exits_2(project: Project) -> None:
    project.write(
        "subscribers/subscribers.csv",
        "email,name,status\nok@example.com,Ok\nbroken,B\nOK@example.com,Dup\nx@example.com,X,paused\n",
    )
    run = project.run("subscribers", "check")
    assert run.code == 2
    assert "subscribers.csv:3: invalid address 'broken'" in run.err
    assert "subscribers.csv:4: duplicate of an earlier row for OK@example.com" in run.err
    assert "subscribers.csv:5: unknown status 'paused'" in run.err
    assert "1 subscriber, 3 bad rows" in run.out
    project.write("subscribers/subscribers.csv", "email\nok@example.com\n")
    assert project.run("subscribers", "check").code == 0


def test_a_rewrite_keeps_bad_rows_the_bom_and_rows_it_does_not_touch(project: Project) -> None:
    path = project.path / "subscribers" / "subscribers.csv"
    original = (
        '\ufeffEmail,Name,Status,Notes\r\nada@example.com,Ada,,"multi\nline, note"\r\n'
        "broken,B,,keep me\r\n"
    )
    path.write_text(original, encoding="utf-8", newline="")

    changed = set_status(path, {"ADA@example.com": SubscriberStatus.BOUNCED})

    assert changed == {"ada@example.com"}
    data = path.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    table = list(csv.reader(data.decode("utf-8-sig").splitlines(keepends=True)))
    assert table[0] == ["Email", "Name", "Status", "Notes"]  # the header as written
    assert table[1] == ["ada@example.com", "Ada", "bounced", "multi\nline, note"]
    assert table[2] == ["broken", "B", "", "keep me"]


def test_list_commands_wait_for_no_send_they_exit_3_while_one_runs(project: Project) -> None:
    with lock_held(project):
        add = project.run("subscribers", "add", "new@example.com")
        unsub = project.run("subscribers", "unsubscribe", "ada@example.com")
    assert add.code == 3 and "another newsletter run" in add.err
    # An unsubscribe never waits: recorded now, written into the CSV by the next run.
    assert unsub.code == 0, unsub.err
    assert "the running send skips it from now on" in unsub.out
    assert by_email(project)["ada@example.com"]["status"] == "active"
    assert project.run("send", "--date", "2026-11-27").code == 0
    assert by_email(project)["ada@example.com"]["status"] == "unsubscribed"
    outbox = project.path / "outbox" / "new"
    assert not any(b"ada@example.com" in p.read_bytes() for p in outbox.iterdir())


def test_bounces_from_the_delivery_side_are_written_to_the_list_and_never_reimported(
    project: Project,
) -> None:
    from datetime import UTC, datetime

    from newsletter.store.database import Store
    from newsletter.subscribers.changes import (
        ListFiles,
        apply_if_free,
        import_export,
        mark_bounced,
    )

    files = ListFiles(
        subscribers=project.path / "subscribers" / "subscribers.csv",
        database=project.path / "newsletter.db",
    )
    now = datetime(2026, 11, 27, 7, tzinfo=UTC)
    with Store(files.database) as store:
        mark_bounced(files, store, ["Grace@Example.org"], now)
    assert by_email(project)["grace@example.org"]["status"] == "bounced"
    assert apply_if_free(files, now) == 0  # nothing left pending

    assert project.run("subscribers", "remove", "grace@example.org").code == 0
    (project.path / "again.csv").write_text("email\ngrace@example.org\n")
    _, report = import_export(files, project.path / "again.csv", None, now)
    assert report.added == 0
    assert report.rejected == [
        f"{project.path / 'again.csv'}:2: grace@example.org unsubscribed or bounced earlier; "
        "an import never re-subscribes anyone"
    ]


@pytest.mark.parametrize(
    "value, cleaned",
    [
        ("Jane Doe", "Jane Doe"),
        ("  padded\t", "padded"),
        ("Evil\r\nBcc: x@example.com", "Evil Bcc: x@example.com"),
        ("nul\x00del\x7fesc\x1b", "nul del esc"),
        ("Zoë\u00a0Ñúñez", "Zoë\u00a0Ñúñez"),  # printable or not, only C0/DEL are removed
        ("line\u2028sep", "line\u2028sep"),
    ],
)
def test_clean_field_removes_control_characters_only(value: str, cleaned: str) -> None:
    assert clean_field(value) == cleaned


def test_add_says_what_happened_with_the_spelling_the_list_keeps(project: Project) -> None:
    first = project.run("subscribers", "add", "Bob@Example.com")
    again = project.run("subscribers", "add", "Bob@Example.com")
    renamed = project.run("subscribers", "add", "bob@example.com", "--name", "Bob")
    same = project.run("subscribers", "add", "BOB@example.com", "--name", "Bob")

    assert first.out.strip() == "added Bob@example.com"
    assert again.out.strip() == "Bob@example.com is already on the list; nothing changed"
    assert renamed.out.strip() == "updated bob@example.com (on the list as Bob@example.com): name"
    assert same.out.strip() == (
        "BOB@example.com is already on the list as Bob@example.com; nothing changed"
    )
    assert by_email(project)["bob@example.com"]["email"] == "Bob@example.com"
    assert [r["email"].lower() for r in rows(project)].count("bob@example.com") == 1


def test_messages_built_from_email_validator_end_once(project: Project) -> None:
    project.write("subscribers/subscribers.csv", "email,name\nbob,Bob\nann@example.com,Ann\n")

    check = project.run("subscribers", "check")
    send = project.run("send", "--date", "2026-11-27")
    add = project.run("subscribers", "add", "bob")

    assert "subscribers.csv:2: invalid address 'bob': An email address must have an @-sign\n" in (
        check.err
    )
    assert "must have an @-sign; skipped" in send.err
    assert add.code == 2 and add.err.startswith(
        "newsletter: error: invalid address 'bob': An email address must have an @-sign\n"
    )
    assert ".;" not in check.err + send.err + add.err

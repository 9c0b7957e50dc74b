"""Consent holds on every path: whoever unsubscribed or bounced is never mailed again,
whether their address comes back by `add`, an import, a row put back by hand or a backup;
only `add --resubscribe` brings them back."""

from __future__ import annotations

import csv
import shutil
from collections.abc import Iterator

import pytest
from conftest import Project
from mounts import Mounts, mounted

DAY = "2026-11-27"
LIST = "subscribers/subscribers.csv"


@pytest.fixture
def mounts() -> Iterator[Mounts]:
    with mounted() as made:
        yield made


def rows(project: Project) -> dict[str, dict[str, str]]:
    with (project.path / LIST).open(encoding="utf-8-sig", newline="") as handle:
        return {r["email"].lower(): r for r in csv.DictReader(handle)}


def send(project: Project, url: str):
    return project.run("send", "--date", DAY, env={"NEWSLETTER_SMTP_URL": url})


def mailed(recorder) -> list[str]:
    return sorted(r for received in recorder.received for r in received.recipients)


def test_unsubscribe_remove_add_is_refused_and_the_send_does_not_mail_them(
    project: Project, smtp
) -> None:
    recorder, url = smtp
    assert project.run("subscribers", "add", "r@example.com").code == 0
    assert project.run("subscribers", "unsubscribe", "r@example.com").code == 0
    removed = project.run("subscribers", "remove", "r@example.com")
    assert removed.code == 0
    assert "r@example.com; it stays unsubscribed in the database" in removed.out

    again = project.run("subscribers", "add", "R@example.com")

    assert again.code == 2
    assert again.out == ""
    assert "newsletter.db: R@example.com unsubscribed on " in again.err
    assert "(command line); not changed" in again.err
    assert "hint: use --resubscribe only when they asked" in again.err
    assert "r@example.com" not in rows(project)
    assert send(project, url).code == 0
    assert "r@example.com" not in mailed(recorder)


def test_unsubscribed_while_not_on_the_list_cannot_be_added(project: Project) -> None:
    first = project.run("subscribers", "unsubscribe", "q@example.com")
    assert "not on the list; recorded" in first.out

    added = project.run("subscribers", "add", "q@example.com", "--name", "Q")

    assert added.code == 2 and "q@example.com unsubscribed on" in added.err
    assert "q@example.com" not in rows(project)


def test_a_row_put_back_by_hand_is_skipped_by_the_send_and_listed_by_check(
    project: Project, smtp
) -> None:
    recorder, url = smtp
    path = project.path / LIST
    backup = path.read_bytes()  # ada active, as a backup taken before she left
    assert project.run("subscribers", "unsubscribe", "ada@example.com").code == 0
    path.write_bytes(backup)  # the backup restored: the CSV says active again

    check = project.run("subscribers", "check")
    listed = project.run("subscribers", "list")
    count = project.run("subscribers", "count")
    run = send(project, url)

    assert check.code == 2
    assert "subscribers.csv:2: ada@example.com is active here but unsubscribed on" in check.err
    assert "1 row active although they left" in check.out
    assert "ada@example.com\tAda Lovelace\tunsubscribed" in listed.out.splitlines()
    assert count.out.strip() == (
        "3 active, 2 unsubscribed, 0 bounced "
        "(1 row of these still active in the list: see 'subscribers check')"
    )
    assert run.code == 0, run.err
    assert "ada@example.com" not in mailed(recorder)
    assert mailed(recorder) == ["grace@example.org", "linus@example.net", "zoe@example.com"]
    assert "subscribers.csv:2: ada@example.com unsubscribed on" in run.err
    assert "; skipped (see 'newsletter subscribers check')" in run.err
    assert "3 sent, 2 skipped" in run.out  # alan (unsubscribed in the CSV) and ada


def test_resubscribe_is_the_only_way_back_and_lifts_the_record(project: Project, smtp) -> None:
    recorder, url = smtp
    project.run("subscribers", "unsubscribe", "ada@example.com")
    project.run("subscribers", "remove", "ada@example.com")

    back = project.run("subscribers", "add", "ada@example.com", "--resubscribe")

    assert back.code == 0, back.err
    assert back.out.strip() == "resubscribed ada@example.com"
    assert rows(project)["ada@example.com"]["status"] == "active"
    assert project.run("subscribers", "check").code == 0
    assert send(project, url).code == 0
    assert "ada@example.com" in mailed(recorder)


def test_a_row_restored_active_then_resubscribed_is_mailed(project: Project, smtp) -> None:
    recorder, url = smtp
    path = project.path / LIST
    backup = path.read_bytes()
    project.run("subscribers", "unsubscribe", "grace@example.org")
    path.write_bytes(backup)

    refused = project.run("subscribers", "add", "grace@example.org")
    back = project.run("subscribers", "add", "grace@example.org", "--resubscribe")

    assert refused.code == 2 and "grace@example.org unsubscribed on" in refused.err
    assert back.code == 0 and back.out.strip() == "resubscribed grace@example.org"
    assert send(project, url).code == 0
    assert "grace@example.org" in mailed(recorder)


def test_an_opt_out_only_in_the_csv_is_remembered_when_its_row_is_removed(
    project: Project,
) -> None:
    # alan is unsubscribed in the CSV only (edited by hand, or from before the database)
    assert project.run("subscribers", "remove", "alan@example.com").code == 0

    again = project.run("subscribers", "add", "alan@example.com")

    assert again.code == 2 and "alan@example.com unsubscribed on" in again.err
    assert "(removed row)" in again.err


def test_a_bounce_holds_too(project: Project, smtp) -> None:
    recorder, url = smtp
    recorder.rcpt_replies["linus@example.net"] = "550 5.1.1 no such user"
    assert send(project, url).code == 1
    assert rows(project)["linus@example.net"]["status"] == "bounced"
    assert project.run("subscribers", "remove", "linus@example.net").code == 0

    again = project.run("subscribers", "add", "linus@example.net")

    assert again.code == 2 and "linus@example.net bounced on" in again.err


def test_an_imports_opt_outs_are_remembered_and_hold_against_a_restored_row(
    project: Project, smtp
) -> None:
    recorder, url = smtp
    path = project.path / LIST
    backup = project.path / "backup.csv"
    shutil.copy(path, backup)
    (project.path / "unsub.csv").write_text(
        '"Email Address","First Name","Last Name","UNSUB_TIME"\n'
        '"zoe@example.com","Zoë","Ñúñez","2024-03-01 08:00:00"\n'
        '"new@example.com","New","Gone","2024-03-01 08:00:00"\n',
        encoding="utf-8",
    )
    assert project.run("subscribers", "import", "unsub.csv").code == 0
    assert rows(project)["zoe@example.com"]["status"] == "unsubscribed"
    shutil.copy(backup, path)  # zoe active again from the backup

    added = project.run("subscribers", "add", "new@example.com")
    run = send(project, url)

    assert added.code == 2 and "(import unsub.csv)" in added.err
    assert run.code == 0, run.err
    assert "zoe@example.com" not in mailed(recorder)
    assert "subscribers.csv:5: zoe@example.com unsubscribed on" in run.err


def test_an_opt_out_only_typed_into_the_csv_holds_when_the_row_is_put_back(
    project: Project, smtp
) -> None:
    """alan is `unsubscribed` in the shipped CSV and nowhere else: the first send records
    that, so restoring his row as active (by hand, or from an old backup) mails nobody."""
    recorder, url = smtp
    assert send(project, url).code == 0
    assert "alan@example.com" not in mailed(recorder)
    text = (project.path / LIST).read_text(encoding="utf-8")
    (project.path / LIST).write_text(text.replace("Alan Turing,unsubscribed", "Alan Turing,active"))

    check = project.run("subscribers", "check")
    resend = send(project, url)  # the same day's edition: alan is not owed it, he left

    assert check.code == 2 and "alan@example.com is active here but unsubscribed" in check.err
    assert resend.code == 0, resend.err
    assert "alan@example.com unsubscribed on" in resend.err
    assert "alan@example.com" not in mailed(recorder)


def test_remove_keeps_the_row_when_the_database_cannot_record_the_opt_out(
    project: Project, mounts: Mounts
) -> None:
    """The opt-out is recorded before the row goes: a database that cannot take it leaves
    the list as it was, so the address cannot come back through `add`."""
    assert project.run("send", "--date", DAY).code == 0
    before = (project.path / LIST).read_bytes()
    mounts.read_only(project.path / "newsletter.db")

    removed = project.run("subscribers", "remove", "alan@example.com")

    assert removed.code == 2 and "cannot write the database: it is read-only" in removed.err
    assert (project.path / LIST).read_bytes() == before
    mounts.unmount(project.path / "newsletter.db")
    assert project.run("subscribers", "remove", "alan@example.com").code == 0
    readded = project.run("subscribers", "add", "alan@example.com")
    assert readded.code == 2 and "alan@example.com unsubscribed on" in readded.err


def test_an_unsubscribe_holds_for_both_spellings_of_an_international_domain(
    project: Project, smtp
) -> None:
    recorder, url = smtp
    assert project.run("subscribers", "unsubscribe", "jane@bücher.example").code == 0
    with (project.path / LIST).open("a", encoding="utf-8") as handle:
        handle.write("jane@xn--bcher-kva.example,Jane,active,Berlin\n")

    run = send(project, url)

    assert run.code == 0, run.err
    assert "jane@bücher.example unsubscribed on" in run.err
    assert not [r for r in mailed(recorder) if "jane" in r]

"""`newsletter bounces` over a Maildir: real-shaped reports (tests/data/bounces/) about an
edition really sent, each subscriber's status after one run and after a second."""

from __future__ import annotations

import csv
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from bouncebox import (
    CONFIG,
    DATA,
    EXPECTED,
    copies,
    deliver,
    filled,
    maildir,
    new_article,
    sent_project,
    statuses,
)
from conftest import Project, lock_held

from newsletter.settings import load_settings, values
from newsletter.subscribers.tokens import key_fingerprint

FIXTURES = sorted(p.name for p in DATA.glob("*.eml"))
SUMMARY = (
    "bounces: 4 hard bounces, 1 soft bounce, 2 complaints, 1 auto-reply ignored, "
    "3 unrecognised, 2 forged or stray, 1 already processed; 6 subscribers left the list"
)
NOTHING = (
    "bounces: 0 hard bounces, 0 soft bounces, 0 complaints, 0 auto-replies ignored, "
    "0 unrecognised, 0 forged or stray"
)


def _mailbox_with_every_report(project: Project) -> None:
    sent = copies(project)
    box = maildir(project.path / "bouncebox")
    for name in FIXTURES:
        deliver(box, name, filled(name, sent))
    # the same report delivered twice (its own Message-ID): changes nothing the second time
    deliver(box, "zz-postfix-dsn-again.eml", filled("postfix-dsn.eml", sent))
    big = b"From: someone@example.net\r\nSubject: huge\r\n\r\n" + b"x" * 20_000_000
    deliver(box, "huge.eml", big)


def test_verp_envelope_senders_are_in_the_outbox(project: Project) -> None:
    sent_project(project)
    sent = copies(project)
    assert set(sent) == set(EXPECTED)
    senders = {envelope for envelope, _ in sent.values()}
    assert len(senders) == len(sent)  # one per recipient
    for envelope in senders:
        local, domain = envelope.split("@")
        assert domain == "example.org" and local.startswith("bounces+")
        assert len(local) <= 64 and local == local.lower()


def test_one_run_changes_each_subscriber_as_its_report_says(project: Project) -> None:
    sent_project(project)
    _mailbox_with_every_report(project)
    result = project.run("bounces")
    assert result.code == 0, result.err
    assert result.out.splitlines()[-1] == SUMMARY
    listing = result.out
    assert "new/huge.eml: unrecognised: too large (20.0 MB): not read" in listing
    assert "new/malformed.eml: unrecognised: malformed MIME" in listing
    assert "new/no-recipient.eml: unrecognised: a delivery report naming no recipient" in listing
    assert "new/forged.eml: forged or stray: " in listing and "rita@example.com" in listing
    assert "new/stranger.eml: forged or stray: " in listing
    assert "stranger@example.net" in listing
    assert "Traceback" not in result.err
    assert statuses(project) == EXPECTED
    box = project.path / "bouncebox"
    assert list((box / "new").iterdir()) == []
    moved = sorted(p.name for p in (box / "cur").iterdir())
    assert len(moved) == len(FIXTURES) + 2
    assert all(name.endswith(":2,S") for name in moved)

    again = project.run("bounces")
    assert again.code == 0, again.err
    assert again.out.strip() == NOTHING
    assert statuses(project) == EXPECTED


def test_status_shows_each_editions_bounces_complaints_and_the_complaint_rate(
    project: Project,
) -> None:
    sent_project(project)
    assert "reports:" not in project.run("status").out  # nothing came back yet
    _mailbox_with_every_report(project)
    assert project.run("bounces").code == 0
    status = project.run("status")
    assert status.code == 0, status.err
    lines = status.out.splitlines()
    assert lines[2] == (
        "    reports: 4 hard bounced, 1 soft bounced, 2 complaints (complaint rate 22.22%)"
    )
    assert lines[3].startswith("    warning: a complaint rate of 22.22% is above 0.1 %")
    exported = project.run("status", "--export", "out.csv")
    assert exported.code == 0, exported.err
    with (project.path / "out.csv").open(newline="") as handle:
        reports = {row["email"]: row["report"] for row in csv.DictReader(handle)}
    assert reports == {
        "ada@example.com": "hard", "grace@example.org": "hard", "linus@example.net": "hard",
        "zoe@example.com": "soft", "mia@example.com": "hard", "omar@example.com": "complaint",
        "pat@example.com": "complaint", "quinn@example.com": "", "rita@example.com": "",
    }  # fmt: skip


def test_reports_delivered_again_change_nothing(project: Project) -> None:
    sent_project(project)
    _mailbox_with_every_report(project)
    assert project.run("bounces").code == 0
    sent, box = copies(project), project.path / "bouncebox"
    for name in FIXTURES:
        deliver(box, f"again-{name}", filled(name, sent))
    result = project.run("bounces")
    assert result.code == 0, result.err
    # the reports without a Message-ID of their own (qmail's) are known by their bytes
    assert result.out.strip() == NOTHING + f", {len(FIXTURES)} already processed"
    assert statuses(project) == EXPECTED


def test_the_record_wins_over_a_restored_row(project: Project) -> None:
    """A complaint is a record of who left: a backup of the CSV put back does not bring
    the address back into a send."""
    sent_project(project)
    backup = (project.path / "subscribers" / "subscribers.csv").read_bytes()
    _mailbox_with_every_report(project)
    assert project.run("bounces").code == 0
    (project.path / "subscribers" / "subscribers.csv").write_bytes(backup)
    new_article(project, "bridge")
    result = project.run("send", "--date", "2026-12-02")
    assert result.code == 0, result.err
    latest = copies(project)  # the second edition's copies override the first's
    newer = {a for a, (_, msgid) in latest.items() if msgid.startswith("<20261202.")}
    assert newer == {a for a, s in EXPECTED.items() if s == "active"}


def test_soft_bounces_on_different_editions_make_a_bounce(project: Project) -> None:
    config = 'bounce_address = "bounces@example.org"\nbounce_mailbox = "bouncebox"\n'
    config += "soft_bounce_limit = 2\n"
    sent_project(project, "2026-12-01", config)
    first = copies(project)
    box = maildir(project.path / "bouncebox")
    deliver(box, "soft-1.eml", filled("exchange-dsn.eml", first))
    assert project.run("bounces").code == 0
    assert statuses(project)["zoe@example.com"] == "active"
    # the same edition again, another report (another Message-ID): still one edition
    again = filled("exchange-dsn.eml", first).replace(b"<d0f1a5c2-", b"<second-")
    deliver(box, "soft-1b.eml", again)
    assert project.run("bounces").code == 0
    assert statuses(project)["zoe@example.com"] == "active"
    new_article(project, "bridge")
    assert project.run("send", "--date", "2026-12-02").code == 0
    second = copies(project)
    assert second["zoe@example.com"][1].startswith("<20261202.")
    deliver(box, "soft-2.eml", filled("exchange-dsn.eml", second).replace(b"<d0f1", b"<e2"))
    result = project.run("bounces", "-v")
    assert result.code == 0, result.err
    assert "bounced: zoe@example.com" in result.out
    assert statuses(project)["zoe@example.com"] == "bounced"
    # they asked to be back: the old soft bounces no longer count, one new one is one
    assert project.run("subscribers", "add", "--resubscribe", "zoe@example.com").code == 0
    new_article(project, "library")
    assert project.run("send", "--date", "2026-12-03").code == 0
    third = copies(project)
    assert third["zoe@example.com"][1].startswith("<20261203.")
    deliver(box, "soft-3.eml", filled("exchange-dsn.eml", third).replace(b"<d0f1", b"<f3"))
    result = project.run("bounces", "-v")
    assert result.code == 0, result.err
    assert "1 soft bounce," in result.out and "bounced: zoe" not in result.out
    assert statuses(project)["zoe@example.com"] == "active"


def test_a_run_holding_the_lock_makes_it_wait(project: Project) -> None:
    sent_project(project)
    _mailbox_with_every_report(project)
    with lock_held(project):
        result = project.run("bounces")
    assert result.code == 3
    assert all(s == "active" for s in statuses(project).values())
    assert len(list((project.path / "bouncebox" / "new").iterdir())) == len(FIXTURES) + 2


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ("", "bounce_mailbox is not set"),
        ('bounce_mailbox = "imaps://host.example/INBOX"\n', "needs a user and a host"),
        ('bounce_address = "a+b@example.org"\n', "not a plain address"),
        ('soft_bounce_limit = 0\nbounce_mailbox = "x"\n', "soft_bounce_limit"),
        ('bounce_mailbox = "imaps://u@host.example:0/INBOX"\n', "port is not a number"),
        ('bounce_mailbox = "no-such-box"\n', "bounce_mailbox = '"),
    ],
)
def test_configuration_errors_exit_2(project: Project, config: str, message: str) -> None:
    project.write("newsletter.toml", config)
    result = project.run("bounces")
    assert result.code == 2
    assert message in result.err
    assert "Traceback" not in result.err


def test_a_folder_that_is_not_a_maildir_is_a_configuration_error(project: Project) -> None:
    sent_project(project)
    (project.path / "bouncebox").mkdir()
    result = project.run("bounces")
    assert result.code == 2
    assert "bounce_mailbox = '" in result.err and "bouncebox': not a Maildir" in result.err
    assert "Traceback" not in result.err


def test_the_daemon_loads_flufl_bounce_only_for_a_bounce_schedule(project: Project) -> None:
    code = "import sys, newsletter.daemon.scheduler; print('flufl.bounce' in sys.modules)"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert loaded.stdout.strip() == "False", loaded.stderr


def test_the_mailbox_password_is_not_in_its_repr(project: Project) -> None:
    project.write("newsletter.toml", 'bounce_mailbox = "imaps://u:hunter2@host.example/"\n')
    settings, _ = load_settings(project.path / "newsletter.toml")
    spec = values.mailbox_spec(settings)
    assert spec is not None and spec.password == "hunter2"
    assert "hunter2" not in repr(spec)


@pytest.mark.parametrize(("retired_days_ago", "status"), [(None, "bounced"), (100, "active")])
def test_tokens_of_a_previous_key_verify_for_previous_secret_keys_days(
    project: Project, retired_days_ago: int | None, status: str
) -> None:
    old = "e1f3a5c7b9d2e4f6a8c0b2d4f6e8a0c2b4d6e8f0a2c4b6d8e0f2a4c6b8d0e2f4"
    new = "3c9a1f0e7b5d2c4a8e6f1b3d5a7c9e0f2b4d6f8a1c3e5a7b9d0f2e4c6a8b1d3f"
    sent_project(project, config=CONFIG + f'secret_key = "{old}"\n')
    sent = copies(project)
    project.write(
        "newsletter.toml", CONFIG + f'secret_key = "{new}"\nprevious_secret_keys = ["{old}"]\n'
    )
    if retired_days_ago is not None:  # the key was listed as previous that long ago
        when = datetime.now(UTC) - timedelta(days=retired_days_ago)
        with sqlite3.connect(project.path / "newsletter.db") as db:
            name = f"key_retired.{key_fingerprint(old.encode())}"
            db.execute("INSERT INTO meta (key, value) VALUES (?, ?)", (name, when.isoformat()))
    deliver(maildir(project.path / "bouncebox"), "qmail.eml", filled("qmail.eml", sent))
    result = project.run("bounces")
    assert result.code == 0, result.err
    assert statuses(project)["mia@example.com"] == status
    assert ("new/qmail.eml: forged or stray" in result.out) == (status == "active")


def test_reports_are_recorded_with_where_they_came_from(project: Project) -> None:
    sent_project(project)
    _mailbox_with_every_report(project)
    assert project.run("bounces").code == 0
    with sqlite3.connect(project.path / "newsletter.db") as db:
        rows = dict(db.execute("SELECT origin, kind FROM bounce_reports WHERE email != ''"))
    assert rows["new/postfix-dsn.eml"] == "hard"
    assert rows["new/exchange-dsn.eml"] == "soft"
    assert rows["new/yahoo-arf.eml"] == "complaint"
    assert "new/zz-postfix-dsn-again.eml" not in rows  # the first one was recorded


def test_a_true_report_about_an_address_no_longer_on_the_list_is_listed(
    project: Project,
) -> None:
    sent_project(project)
    sent = copies(project)
    assert project.run("subscribers", "remove", "linus@example.net").code == 0
    box = maildir(project.path / "bouncebox")
    deliver(box, "gmail-dsn.eml", filled("gmail-dsn.eml", sent))
    result = project.run("bounces")
    assert result.code == 0, result.err
    assert (
        "new/gmail-dsn.eml: not listed: linus@example.net is not on the list;"
        " recorded: linus@example.net bounced" in result.out
    )
    assert result.out.splitlines()[-1] == NOTHING + ", 1 not on the list"
    assert "linus@example.net" not in statuses(project)
    # the hard bounce is a record of who left: adding the address again is refused
    added = project.run("subscribers", "add", "linus@example.net")
    assert added.code == 2, added.out
    assert "linus@example.net" not in statuses(project)


def test_a_complaint_about_a_removed_address_keeps_it_off_the_list(project: Project) -> None:
    sent_project(project)
    sent = copies(project)
    assert project.run("subscribers", "remove", "pat@example.com").code == 0
    box = maildir(project.path / "bouncebox")
    deliver(box, "aol-arf.eml", filled("aol-arf.eml", sent))
    result = project.run("bounces")
    assert result.code == 0, result.err
    assert "pat@example.com complained" in result.out
    project.write("old.csv", "email,name\npat@example.com,Pat\nnew@example.com,New\n")
    imported = project.run("subscribers", "import", "old.csv")
    assert "Traceback" not in imported.err
    now = statuses(project)
    assert now["new@example.com"] == "active"
    assert now.get("pat@example.com") != "active"


def test_a_message_a_mail_reader_moved_to_cur_unseen_is_still_read(project: Project) -> None:
    sent_project(project)
    box = maildir(project.path / "bouncebox")
    data = filled("postfix-dsn.eml", copies(project))
    (box / "cur" / "1.host:2,").write_bytes(data)  # looked at, not read (no S flag)
    (box / "cur" / "2.host:2,S").write_bytes(b"Subject: already read\r\n\r\nx\r\n")
    result = project.run("bounces")
    assert result.code == 0, result.err
    assert "1 hard bounce" in result.out and "0 unrecognised" in result.out
    assert sorted(p.name for p in (box / "cur").iterdir()) == ["1.host:2,S", "2.host:2,S"]


def test_a_report_naming_one_address_and_quoting_anothers_message_id_is_forged(
    project: Project,
) -> None:
    """A Message-ID is no proof about someone else: zoe's report quoting linus's copy
    changes neither of them."""
    sent_project(project)
    sent = copies(project)
    forged = filled("gmail-dsn.eml", sent).replace(b"linus@example.net", b"zoe@example.com")
    forged = forged.replace(b'"Torvalds, Linus" <zoe@example.com>', b"<zoe@example.com>")
    forged = forged.replace(
        sent["zoe@example.com"][1].encode(), sent["linus@example.net"][1].encode()
    )
    assert sent["linus@example.net"][1].encode() in forged
    box = maildir(project.path / "bouncebox")
    deliver(box, "forged-zoe.eml", forged)
    result = project.run("bounces")
    assert result.code == 0, result.err
    assert "new/forged-zoe.eml: forged or stray: " in result.out
    assert result.out.splitlines()[-1] == NOTHING.replace("0 forged", "1 forged")
    assert statuses(project)["linus@example.net"] == "active"
    assert statuses(project)["zoe@example.com"] == "active"


def test_an_empty_or_garbage_message_is_listed_without_a_traceback(project: Project) -> None:
    sent_project(project)
    box = maildir(project.path / "bouncebox")
    deliver(box, "empty.eml", b"")
    deliver(box, "garbage.eml", b"\x00\xff\xfe not a message at all\r\n")
    result = project.run("bounces")
    assert result.code == 0, result.err
    assert "new/empty.eml: unrecognised: " in result.out
    assert "new/garbage.eml: unrecognised: " in result.out
    assert "Traceback" not in result.err and "Exception in detector" not in result.err


def test_a_report_reusing_a_processed_reports_message_id_is_still_read(
    project: Project,
) -> None:
    """Reports are known by Message-ID and content: another report that happens (or
    pretends) to carry a processed report's Message-ID is not taken for that one."""
    sent_project(project)
    sent, box = copies(project), maildir(project.path / "bouncebox")
    deliver(box, "exchange-dsn.eml", filled("exchange-dsn.eml", sent))
    assert project.run("bounces").code == 0
    other = filled("postfix-dsn.eml", sent).replace(
        b"<20261201070004.4F2A31C0123@mail.example.org>",
        b"<d0f1a5c2-7e1b-4bd6-9d55-6d8a0e0c2f1a@AM7PR02MB1234.eurprd02.prod.outlook.com>",
    )
    deliver(box, "postfix-dsn.eml", other)
    deliver(box, "exchange-again.eml", filled("exchange-dsn.eml", sent))  # the same bytes
    result = project.run("bounces")
    assert result.code == 0, result.err
    assert result.out.splitlines()[-1].startswith("bounces: 1 hard bounce, 0 soft bounces")
    assert "1 already processed" in result.out
    assert statuses(project)["ada@example.com"] == "bounced"

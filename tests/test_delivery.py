"""Delivery under real faults: a real aiosmtpd server that defers, refuses, drops, stalls.

Every test ends by checking what a user cares about: each subscriber got exactly one copy,
and the ledger says what the server received.
"""

from __future__ import annotations

import csv
import re
import signal
import sqlite3
import subprocess
import sys
import time

from conftest import FAST_RETRIES, Project, many_subscribers, with_sender
from smtpserver import Recorder

DAY = "2026-11-27"


def env(url: str, **extra: str) -> dict[str, str]:
    return {"NEWSLETTER_SMTP_URL": url, **FAST_RETRIES, **extra}


def ledger(project: Project) -> dict[str, str]:
    db = sqlite3.connect(project.path / "newsletter.db")
    return dict(db.execute("SELECT email, status FROM deliveries").fetchall())


def test_temporary_failures_are_retried_in_the_run(project: Project, smtp) -> None:
    recorder, url = smtp
    emails = many_subscribers(project, 6)
    recorder.temporary[emails[1]] = ["451 4.7.1 greylisted", "452 4.3.1 busy"]
    recorder.temporary[emails[2]] = ["454 4.7.0 throttling: slow down"]

    run = project.run("send", "--date", DAY, env=env(url))

    assert run.code == 0, run.err
    assert recorder.counts() == dict.fromkeys(emails, 1)
    assert set(ledger(project).values()) == {"sent"}


def test_deferred_after_max_attempts_then_the_next_run_delivers_once(
    project: Project, smtp
) -> None:
    recorder, url = smtp
    emails = many_subscribers(project, 5)
    recorder.temporary[emails[0]] = ["451 4.3.0 try later"] * 3  # = max_attempts

    run = project.run("send", "--date", DAY, env=env(url))
    assert run.code == 1
    assert f"{emails[0]}: deferred: 451 4.3.0 try later" in run.err
    assert "4 sent, 1 deferred" in run.out
    assert ledger(project)[emails[0]] == "deferred"

    again = project.run("send", "--date", DAY, env=env(url))
    assert again.code == 0, again.err
    assert "1 sent" in again.out and "4 already had it" in again.out
    assert recorder.counts() == dict.fromkeys(emails, 1)


def test_permanent_failure_is_recorded_and_no_such_user_marks_the_subscriber_bounced(
    project: Project, smtp
) -> None:
    recorder, url = smtp
    emails = many_subscribers(project, 4)
    recorder.rcpt_replies[emails[1]] = "550 5.1.1 no such user"
    recorder.rcpt_replies[emails[2]] = "554 5.7.1 rejected by policy"

    run = project.run("send", "--date", DAY, env=env(url))

    assert run.code == 1
    assert "2 sent, 2 failed, 1 bounced" in run.out
    assert f"{emails[1]}: failed: 550 5.1.1 no such user" in run.err
    db = sqlite3.connect(project.path / "newsletter.db")
    code, text = db.execute(
        "SELECT last_code, last_text FROM deliveries WHERE email = ?", (emails[2],)
    ).fetchone()
    assert (code, text) == (554, "5.7.1 rejected by policy")
    with (project.path / "subscribers/subscribers.csv").open(encoding="utf-8") as handle:
        status = {row["email"]: row["status"] for row in csv.DictReader(handle)}
    assert status[emails[1]] == "bounced"
    assert status[emails[2]] == ""  # a policy rejection is not a bounce
    # A failed recipient is not retried by the next run.
    recorder.rcpt_replies.clear()
    again = project.run("send", "--date", DAY, env=env(url))
    assert again.code == 0
    assert recorder.counts() == {emails[0]: 1, emails[3]: 1}


def test_a_connection_dropped_after_the_message_leaves_it_in_doubt_and_the_rest_go(
    project: Project, smtp
) -> None:
    """The server hangs up after the final dot, before its reply (RFC 1047): the message
    is in doubt, named, counted, never resent silently in the same run; the connection is
    reopened for the others; the next run sends it again and says it may be a copy."""
    recorder, url = smtp
    emails = many_subscribers(project, 30)
    recorder.drop_after = 7

    run = project.run("send", "--date", DAY, env=env(url, NEWSLETTER_SMTP_CONNECTIONS="2"))

    assert run.code == 1, run.err
    assert "29 sent, 1 in doubt (the relay may have them)" in run.out
    doubt = [e for e, status in ledger(project).items() if status == "pending"]
    assert len(doubt) == 1
    assert f"{doubt[0]}: in doubt: the relay closed the connection after the message" in run.err
    assert recorder.counts() == dict.fromkeys(set(emails) - set(doubt), 1)

    again = project.run("send", "--date", DAY, env=env(url))
    assert again.code == 0, again.err
    assert "1 sent (1 of them in doubt earlier: possible duplicates)" in again.out
    assert f"{doubt[0]}: in doubt since an earlier run" in again.err
    assert recorder.counts() == dict.fromkeys(emails, 1)
    assert set(ledger(project).values()) == {"sent"}


def test_connections_are_reused_and_renewed_after_the_configured_count(
    project: Project, smtp
) -> None:
    recorder, url = smtp
    emails = many_subscribers(project, 20)
    extra = {"NEWSLETTER_SMTP_CONNECTIONS": "1", "NEWSLETTER_SMTP_MESSAGES_PER_CONNECTION": "5"}

    assert project.run("send", "--date", DAY, env=env(url, **extra)).code == 0

    assert recorder.counts() == dict.fromkeys(emails, 1)
    assert recorder.sessions == 4  # 20 messages, 5 per connection


def test_a_slow_server_times_out_and_the_message_is_retried(project: Project, smtp) -> None:
    recorder, url = smtp
    emails = many_subscribers(project, 2)
    recorder.delay = 1.5
    extra = {"NEWSLETTER_SMTP_TIMEOUT": "0.5", "NEWSLETTER_SMTP_CONNECTIONS": "1"}

    run = project.run("send", "--date", DAY, env=env(url, **extra))

    assert run.code == 1
    assert "in doubt: timed out waiting for the relay after the message" in run.err
    recorder.delay = 0
    again = project.run("send", "--date", DAY, env=env(url))
    assert again.code == 0, again.err
    # The slow server may have accepted a message after the client gave up: that one is
    # "in doubt" and may arrive twice; nobody is missed.
    assert set(recorder.counts()) == set(emails)
    assert all(n <= 2 for n in recorder.counts().values())


def test_many_consecutive_failures_pause_the_run(project: Project, smtp) -> None:
    recorder, url = smtp
    emails = many_subscribers(project, 40)
    recorder.every_rcpt = "451 4.3.0 mail system overloaded"
    extra = {"NEWSLETTER_PAUSE_AFTER_FAILURES": "5", "NEWSLETTER_SMTP_CONNECTIONS": "1"}

    run = project.run("send", "--date", DAY, env=env(url, **extra))

    assert run.code == 1
    assert "paused after 5 consecutive failures (last: 451 4.3.0 mail system overloaded)" in run.out
    assert len(ledger(project)) < 10  # it did not burn through the list
    recorder.every_rcpt = None
    again = project.run("send", "--date", DAY, env=env(url))
    assert again.code == 0, again.err
    assert recorder.counts() == dict.fromkeys(emails, 1)


def test_a_rolling_window_limit_holds_across_runs(project: Project, smtp) -> None:
    recorder, url = smtp
    emails = many_subscribers(project, 5)
    extra = {"NEWSLETTER_RATE_LIMIT": "3/min", "NEWSLETTER_MAX_RATE_WAIT": "1"}

    first = project.run("send", "--date", DAY, env=env(url, **extra))
    assert first.code == 1
    assert "3 sent" in first.out and "rate limit reached" in first.out
    second = project.run("send", "--date", DAY, env=env(url, **extra))
    assert second.code == 1
    assert len(recorder.received) == 3  # the window is still full: the ledger remembers

    third = project.run("send", "--date", DAY, env=env(url))  # no limit
    assert third.code == 0
    assert recorder.counts() == dict.fromkeys(emails, 1)


def test_a_per_second_rate_spaces_the_messages(project: Project, smtp) -> None:
    recorder, url = smtp
    many_subscribers(project, 12)
    start = time.monotonic()
    run = project.run("send", "--date", DAY, env=env(url, NEWSLETTER_RATE_LIMIT="10/s"))
    assert run.code == 0, run.err
    assert len(recorder.received) == 12
    assert time.monotonic() - start >= 1.0  # 12 messages at 10/s need 1.1 s at least


def test_bad_rate_limit_is_a_config_error(project: Project) -> None:
    run = project.run("send", env={"NEWSLETTER_RATE_LIMIT": "fast please"})
    assert run.code == 2
    assert "rate_limit: 'fast please' is not a rate limit" in run.err


def test_subscribers_added_later_get_the_edition_on_the_next_run(project: Project, smtp) -> None:
    recorder, url = smtp
    emails = many_subscribers(project, 3)
    assert project.run("send", "--date", DAY, env=env(url)).code == 0
    with (project.path / "subscribers/subscribers.csv").open("a") as handle:
        handle.write("late@example.com,Late Comer\n")

    again = project.run("send", "--date", DAY, env=env(url))

    assert again.code == 0
    assert "1 sent" in again.out and "3 already had it" in again.out
    assert recorder.counts() == dict.fromkeys([*emails, "late@example.com"], 1)


def test_retry_deferred_retries_only_the_deferred(project: Project, smtp) -> None:
    recorder, url = smtp
    emails = many_subscribers(project, 3)
    recorder.temporary[emails[0]] = ["450 4.2.0 mailbox busy"]  # deferred to the next run
    assert project.run("send", "--date", DAY, env=env(url)).code == 1
    with (project.path / "subscribers/subscribers.csv").open("a") as handle:
        handle.write("late@example.com,Late Comer\n")

    retry = project.run("send", "--date", DAY, "--retry-deferred", env=env(url))

    assert retry.code == 0, retry.err
    assert recorder.counts() == dict.fromkeys(emails, 1)  # not the late subscriber


def _start_send(project: Project, url: str, **extra: str) -> subprocess.Popen[str]:
    import os

    full = {k: v for k, v in os.environ.items() if not k.startswith("NEWSLETTER_")}
    full.update(with_sender(env(url, **extra), project.path))
    return subprocess.Popen(
        [sys.executable, "-m", "newsletter", "send", "--date", DAY],
        cwd=project.path, env=full, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _wait_for(recorder: Recorder, count: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while len(recorder.received) < count:
        assert time.monotonic() < deadline, "the send did not get going"
        time.sleep(0.02)


def test_sigkill_mid_send_then_rerun_misses_nobody_and_repeats_only_in_doubt(
    project: Project, smtp
) -> None:
    recorder, url = smtp
    emails = many_subscribers(project, 120)
    recorder.delay = 0.01
    proc = _start_send(project, url, NEWSLETTER_SMTP_CONNECTIONS="4")
    _wait_for(recorder, 30)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    received_before = len(recorder.received)
    assert received_before < 120

    again = project.run("send", "--date", DAY, env=env(url))

    assert again.code == 0, again.err
    counts = recorder.counts()
    assert set(counts) == set(emails)  # nobody missed
    twice = [e for e, n in counts.items() if n > 1]
    resent = re.search(r"\((\d+) of them in doubt earlier: possible duplicates\)", again.out)
    in_doubt = int(resent.group(1)) if resent else 0
    assert len(twice) <= in_doubt <= 4  # only messages in flight at the kill
    assert all(n <= 2 for n in counts.values())
    assert set(ledger(project).values()) == {"sent"}


def test_sigterm_finishes_in_flight_messages_and_a_rerun_completes_without_duplicates(
    project: Project, smtp
) -> None:
    recorder, url = smtp
    emails = many_subscribers(project, 120)
    recorder.delay = 0.01
    proc = _start_send(project, url, NEWSLETTER_SMTP_CONNECTIONS="4")
    _wait_for(recorder, 30)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=30)

    assert proc.returncode == 1
    assert "stopped by a signal" in out
    sent_rows = {e for e, s in ledger(project).items() if s == "sent"}
    assert sent_rows == set(recorder.counts())  # the ledger matches the server exactly

    again = project.run("send", "--date", DAY, env=env(url))
    assert again.code == 0, again.err
    assert "in doubt" not in again.out
    assert recorder.counts() == dict.fromkeys(emails, 1)


def test_status_shows_counts_and_export_writes_one_row_per_recipient(
    project: Project, smtp
) -> None:
    recorder, url = smtp
    emails = many_subscribers(project, 4)
    recorder.rcpt_replies[emails[3]] = "550 5.1.1 no such user"
    assert project.run("send", "--date", DAY, env=env(url)).code == 1

    status = project.run("status")
    assert status.code == 0
    header, row = status.out.strip().splitlines()
    assert header.split()[:6] == ["date", "#", "sent", "deferred", "failed", "in_doubt"]
    assert row.split()[:6] == [DAY, "1", "3", "0", "1", "0"]

    export = project.run("status", "--date", DAY, "--export", "report.csv")
    assert export.code == 0 and "4 recipients written to report.csv" in export.out
    with (project.path / "report.csv").open(encoding="utf-8") as handle:
        rows = {r["email"]: r for r in csv.DictReader(handle)}
    assert rows[emails[3]]["status"] == "failed" and rows[emails[3]]["last_code"] == "550"
    assert rows[emails[0]]["status"] == "sent" and rows[emails[0]]["message_id"].startswith("<")


def test_json_logs_for_log_collectors(project: Project, smtp) -> None:
    import json

    recorder, url = smtp
    emails = many_subscribers(project, 3)
    recorder.rcpt_replies[emails[0]] = "550 5.7.1 rejected"
    run = project.run("--log-format", "json", "send", "--date", DAY, env=env(url))

    assert run.code == 1
    logs = [json.loads(line) for line in run.err.strip().splitlines()]
    assert any(e["level"] == "warning" and emails[0] in e["message"] for e in logs)
    assert all({"time", "level", "message"} <= set(e) for e in logs)
    summary = json.loads(run.out.strip().splitlines()[-1])["summary"]
    assert (summary["sent"], summary["failed"], summary["edition"]) == (2, 1, DAY)


def test_in_doubt_is_held_until_retry_deferred_when_set_to_hold(project: Project, smtp) -> None:
    recorder, url = smtp
    emails = many_subscribers(project, 8)
    recorder.drop_after = 3  # the 4th message: the server hangs up after its final dot
    hold = {"NEWSLETTER_IN_DOUBT": "hold", "NEWSLETTER_SMTP_CONNECTIONS": "1"}

    first = project.run("send", "--date", DAY, env=env(url, **hold))
    assert first.code == 1, first.err
    assert "7 sent, 1 in doubt (the relay may have them)" in first.out
    [doubt] = [e for e, status in ledger(project).items() if status == "pending"]

    again = project.run("send", "--date", DAY, env=env(url, **hold))
    assert again.code == 1, again.err  # still unresolved
    assert "1 in doubt" in again.out, again.out
    assert f'{doubt}: in doubt (the relay may have it); held: in_doubt = "hold"' in again.err
    assert doubt not in recorder.counts()

    retry = project.run("send", "--date", DAY, "--retry-deferred", env=env(url, **hold))
    assert retry.code == 0, retry.err
    assert "1 sent (1 of them in doubt earlier: possible duplicates)" in retry.out
    assert recorder.counts() == dict.fromkeys(emails, 1)


def test_a_rerun_sends_new_subscribers_before_retries_and_expires_old_deferrals(
    project: Project, smtp
) -> None:
    recorder, url = smtp
    emails = many_subscribers(project, 4)
    for email in emails[:2]:
        recorder.temporary[email] = ["450 4.2.0 mailbox busy"]
    one = {"NEWSLETTER_SMTP_CONNECTIONS": "1"}
    first = project.run("send", "--date", DAY, env=env(url, **one))
    assert first.code == 1 and "2 sent, 2 deferred" in first.out, first.out
    with (project.path / "subscribers/subscribers.csv").open("a") as handle:
        handle.write("late1@example.com,Late\nlate2@example.com,Later\n")
    # The first deferral is four days old: past max_deferred_days (3).
    with sqlite3.connect(project.path / "newsletter.db") as db:
        db.execute(
            "UPDATE deliveries SET created_at = '2020-01-01T00:00:00+00:00' WHERE email = ?",
            (emails[0],),
        )

    again = project.run("send", "--date", DAY, env=env(url, **one))

    assert again.code == 1, again.err  # one failed for good
    order = [r.recipients[0] for r in recorder.received][2:]
    assert order == ["late1@example.com", "late2@example.com", emails[1]]  # new ones first
    assert "3 sent, 1 failed" in again.out, again.out
    assert (
        f"{emails[0]}: failed: 450 deferred for 3 days (max_deferred_days); "
        "last reply: 450 4.2.0 mailbox busy" in again.err
    ), again.err
    assert ledger(project)[emails[0]] == "failed"

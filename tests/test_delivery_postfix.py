"""Delivery against a real relay: a private Postfix on loopback (tests/postfix.py).

Each test counts what Postfix's catch-all Maildir received (nobody twice, nobody missing),
the exit code, the printed summary, and that the summary agrees with the ledger.
"""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from conftest import FAST_RETRIES, Project, Run, many_subscribers, with_sender
from postfix import Postfix, private_postfix, skip_reason

pytestmark = pytest.mark.skipif(bool(skip_reason()), reason=skip_reason() or "")

DAY = "2026-11-27"
TIMEOUT = 120


@pytest.fixture
def postfix() -> Iterator[Postfix]:
    with private_postfix() as instance:
        yield instance


def send(project: Project, postfix: Postfix, *args: str, **extra: str) -> Run:
    env = {"NEWSLETTER_SMTP_URL": postfix.url, **FAST_RETRIES, **extra}
    return project.run("send", "--date", DAY, *args, env=env, timeout=TIMEOUT)


def ledger(project: Project) -> dict[str, tuple[str, int, int | None, str | None]]:
    with sqlite3.connect(project.path / "newsletter.db") as db:
        rows = db.execute("SELECT email, status, attempts, last_code, last_text FROM deliveries")
        return {
            email: (status, attempts, code, text) for email, status, attempts, code, text in rows
        }


def by_status(project: Project) -> dict[str, int]:
    counts: dict[str, int] = {}
    for status, *_ in ledger(project).values():
        counts[status] = counts.get(status, 0) + 1
    return counts


def printed(summary: str) -> dict[str, int]:
    """The summary line's counts, by ledger status."""
    found = {label: int(n) for n, label in re.findall(r"(\d+) (sent|deferred|failed)\b", summary)}
    doubt = re.search(r"(\d+) in doubt", summary)
    found["pending"] = int(doubt.group(1)) if doubt else 0
    return {k: v for k, v in found.items() if v}


# --- 1. a reply lost after the final dot ----------------------------------------------


def test_smtpd_killed_mid_send_leaves_only_in_doubt_messages_and_nobody_twice_in_the_run(
    project: Project, postfix: Postfix
) -> None:
    """Postfix pauses after each message's final dot (``sleep`` in the end-of-data
    restrictions), so ``kill -9`` of its smtpd processes lands in the RFC 1047 window."""
    postfix.configure(smtpd_end_of_data_restrictions="sleep 1, permit")
    emails = many_subscribers(project, 12)
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSLETTER_")}
    env.update(with_sender({"NEWSLETTER_SMTP_URL": postfix.url, **FAST_RETRIES}, project.path))
    env["NEWSLETTER_SMTP_CONNECTIONS"] = "2"
    proc = subprocess.Popen(
        [sys.executable, "-m", "newsletter", "send", "--date", DAY],
        cwd=project.path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while len(postfix.smtpd_pids()) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(1.5)  # a message or two through, then both sessions in their pause
    killed = postfix.kill_smtpd()
    out, err = proc.communicate(timeout=TIMEOUT)
    postfix.wait_delivered(len(emails) - killed)

    received = postfix.received()
    assert killed >= 1
    counts = printed(out)
    assert proc.returncode == 1, (out, err)
    assert counts.get("pending", 0) >= 1, out
    assert counts == by_status(project), out  # the summary is the ledger's
    doubt = {e for e, (status, *_) in ledger(project).items() if status == "pending"}
    for email in doubt:
        assert f"{email}: in doubt: " in err
    assert max(received.values()) == 1  # nobody twice within the run
    sent = {e for e, (status, *_) in ledger(project).items() if status == "sent"}
    assert sent <= set(received) <= sent | doubt

    again = send(project, postfix)
    postfix.wait_delivered(len(emails))
    assert again.code == 0, again.err
    assert f"({len(doubt)} of them in doubt earlier: possible duplicates)" in again.out
    received = postfix.received()
    assert set(received) == set(emails)  # nobody missing
    # Postfix dropped what it had not committed: the resend made no duplicate here.
    assert sum(received.values()) - len(emails) <= len(doubt)
    assert by_status(project) == {"sent": len(emails)}


# --- 2. a few busy mailboxes ------------------------------------------------------------


def test_busy_mailboxes_defer_only_themselves_and_never_pause_the_run(
    project: Project, postfix: Postfix
) -> None:
    emails = many_subscribers(project, 40)
    busy = emails[:16:2]  # 8 of the first 16
    postfix.busy(*busy)

    run = send(project, postfix, NEWSLETTER_PAUSE_AFTER_FAILURES="5")
    postfix.wait_delivered(32)

    assert run.code == 1, run.err
    assert "32 sent, 8 deferred in" in run.out, run.out
    assert "paused" not in run.out and "throttled" not in run.out
    assert printed(run.out) == by_status(project) == {"sent": 32, "deferred": 8}
    assert f"{busy[0]}: deferred: 450 4.2.0 <{busy[0]}>: Recipient address rejected" in run.err
    received = postfix.received()
    assert received == dict.fromkeys(set(emails) - set(busy), 1)
    assert all(ledger(project)[e][1] == 1 for e in busy)  # tried once, not three times


# --- 3. the relay's rate limit ------------------------------------------------------------


def test_under_the_relays_rate_limit_the_run_slows_down_and_delivers_everyone(
    project: Project, postfix: Postfix
) -> None:
    """Postfix allows 10 messages per 5 s from a client (120/min): the run slows to it,
    says so, and nobody is deferred; one busy mailbox is no throttling."""
    postfix.configure(smtpd_client_message_rate_limit=10, anvil_rate_time_unit="5s")
    emails = many_subscribers(project, 30)
    started = time.monotonic()

    run = project.run(
        "send", "--date", DAY, env={"NEWSLETTER_SMTP_URL": postfix.url}, timeout=TIMEOUT
    )
    seconds = time.monotonic() - started
    postfix.wait_delivered(30)

    assert run.code == 0, run.err
    assert "30 sent in" in run.out
    allowed = re.search(
        r"the relay throttled the run \(\d+ slow-downs\); it allowed ([\d.]+)/s", run.out
    )
    assert allowed, run.out
    print(f"delivered {30 / seconds * 60:.0f}/min overall; the relay allowed {allowed.group(1)}/s")
    assert postfix.received() == dict.fromkeys(emails, 1)
    assert seconds < 60


# --- 4. limits the relay states ---------------------------------------------------------


def test_a_size_limit_below_the_message_refuses_the_run_before_sending(
    project: Project, postfix: Postfix
) -> None:
    postfix.configure(message_size_limit=10_000, header_size_limit=4096)
    many_subscribers(project, 5)

    run = send(project, postfix)

    assert run.code == 2, run.err
    assert re.search(
        r"smtp://127\.0\.0\.1:\d+ takes messages up to 10,000 bytes \(SIZE in its EHLO reply\)"
        r" and this edition's messages are [\d,]+ bytes: nothing was sent",
        run.err,
    ), run.err
    assert "max_articles" in run.err and "Traceback" not in run.err
    assert postfix.messages() == []
    assert ledger(project) == {}


def test_a_connection_limit_shrinks_the_pool_and_says_so(
    project: Project, postfix: Postfix
) -> None:
    postfix.configure(smtpd_client_connection_count_limit=2)
    emails = many_subscribers(project, 40)

    run = send(project, postfix, NEWSLETTER_SMTP_CONNECTIONS="4")
    postfix.wait_delivered(40)

    assert run.code == 0, run.err
    assert "40 sent in" in run.out
    assert re.search(
        r"refused the connection: 421 4\.7\.0 .*too many connections from 127\.0\.0\.1; "
        r"using [12] connections? instead of smtp_connections = 4",
        run.err,
    ), run.err
    assert "check smtp_url" not in run.err
    assert postfix.received() == dict.fromkeys(emails, 1)


def test_the_relays_reply_is_kept_when_it_hangs_up_after_an_error(
    project: Project, postfix: Postfix
) -> None:
    """Postfix answers the command after its error limit with "421 4.7.0 Error: too many
    errors" and hangs up: the refused recipient fails with its own reply (a bounce), not
    "the relay closed the connection", and the next message goes on a new connection."""
    emails = many_subscribers(project, 6)
    postfix.busy(emails[1], emails[4], reply="550 5.1.1 No such user")
    postfix.configure(smtpd_hard_error_limit=1)

    run = send(project, postfix, NEWSLETTER_SMTP_CONNECTIONS="1")
    postfix.wait_delivered(4)

    assert run.code == 1, run.err
    assert "4 sent, 2 failed, 2 bounced in" in run.out, run.out
    assert f"{emails[1]}: failed: 550 5.1.1 <{emails[1]}>: Recipient address rejected" in run.err
    assert "closed the connection" not in run.err
    assert postfix.received() == dict.fromkeys(set(emails) - {emails[1], emails[4]}, 1)
    assert printed(run.out) == {"sent": 4, "failed": 2} == by_status(project)

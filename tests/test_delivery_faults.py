"""A send meets a fault: a full disk under the database, a worker or a ledger write that
raises, a connection dropping after DATA, a full outbox.

Whatever the fault, the run must stop cleanly within a bounded time (every run here has a
timeout: the old failure was a hang), release the lock, say what happened (exit 1), and
its printed summary must agree with ``newsletter status`` and the SQLite ledger; a rerun
must then finish with nobody missing and nobody twice at the real SMTP server.
"""

from __future__ import annotations

import asyncio
import os
import re
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import FAST_RETRIES, Project, Run, many_subscribers, with_sender
from mounts import Mounts, fill, mounted
from smtpserver import Recorder

DAY = "2026-11-27"
INJECT = Path(__file__).with_name("faultinject.py")
TIMEOUT = 90  # seconds: far more than any of these runs needs; a hang fails the test


@pytest.fixture
def mounts() -> Iterator[Mounts]:
    with mounted() as made:
        yield made


def env(url: str, **extra: str) -> dict[str, str]:
    return {"NEWSLETTER_SMTP_URL": url, **FAST_RETRIES, **extra}


def run_with_fault(project: Project, point: str, after: int, env: dict[str, str]) -> Run:
    """``newsletter send`` with one fault injected (tests/faultinject.py)."""
    full = {k: v for k, v in os.environ.items() if not k.startswith("NEWSLETTER_")}
    proc = subprocess.run(
        [sys.executable, str(INJECT), point, str(after), "send", "--date", DAY],
        cwd=project.path, env={**full, **with_sender(env, project.path)}, capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )  # fmt: skip
    return Run(proc.returncode, proc.stdout, proc.stderr)


def printed(summary: str) -> dict[str, int]:
    """The counts of a printed summary line, by ledger status."""
    found = {label: int(n) for n, label in re.findall(r"(\d+) (sent|deferred|failed)", summary)}
    doubt = re.search(r"(\d+) in doubt", summary)
    return {
        "sent": found.get("sent", 0),
        "deferred": found.get("deferred", 0),
        "failed": found.get("failed", 0),
        "pending": int(doubt.group(1)) if doubt else 0,
    }


def status(project: Project) -> dict[str, int]:
    """`newsletter status`'s counts for the edition."""
    run = project.run("status", "--date", DAY, timeout=TIMEOUT)
    assert run.code == 0, run.err
    header, row = run.out.strip().splitlines()
    names, cells = header.split()[2:6], row.split()[2:6]
    names = ["pending" if name == "in_doubt" else name for name in names]  # the ledger's
    return {name: int(cell) for name, cell in zip(names, cells, strict=True)}


def in_sqlite(database: Path) -> dict[str, int]:
    with sqlite3.connect(database) as db:
        rows = db.execute("SELECT status, COUNT(*) FROM deliveries GROUP BY status").fetchall()
    counts = dict.fromkeys(("sent", "deferred", "failed", "pending"), 0)
    counts.update(dict(rows))
    return counts


def assert_rerun_completes(project: Project, first: Run, recorder: Recorder, url: str) -> None:
    """The rerun sends to everyone still owed the edition, once: nobody missing, nobody
    twice; the ledger it starts from holds exactly what the server received, and the
    messages the first run left in doubt."""
    delivered = len(recorder.received)
    again = project.run("send", "--date", DAY, env=env(url), timeout=TIMEOUT)
    assert again.code == 0, again.err
    assert f"{delivered} already had it" in again.out or delivered == 0, again.out
    if doubt := printed(first.out)["pending"]:
        assert f"({doubt} of them in doubt earlier: possible duplicates)" in again.out
    assert recorder.counts() == dict.fromkeys(subscribers_in(project), 1)


def subscribers_in(project: Project) -> list[str]:
    lines = (project.path / "subscribers" / "subscribers.csv").read_text().splitlines()
    return [line.split(",")[0] for line in lines[1:]]


# --- a real full disk -----------------------------------------------------------------


def test_a_full_disk_under_the_database_stops_the_send_cleanly_and_a_rerun_completes(
    project: Project, smtp, mounts: Mounts
) -> None:
    recorder, url = smtp
    disk = mounts.tmpfs(project.path / "db", "2m")
    project.write("newsletter.toml", 'database = "db/newsletter.db"\n')
    many_subscribers(project, 1)
    assert project.run("send", "--date", DAY, env=env(url)).code == 0  # edition frozen
    emails = many_subscribers(project, 1500)
    filler = fill(disk, leave=160 * 1024)  # the reserve (64 KB) and a few ledger commits

    first = project.run("send", "--date", DAY, env=env(url), timeout=TIMEOUT)

    assert first.code == 1, first.err
    assert "db/newsletter.db: cannot write the database: No space left on device" in first.err
    assert "hint: free space on the filesystem holding" in first.err
    assert "Traceback" not in first.err
    assert "cannot write the database: No space left on device; rerun to continue" in first.out
    sent = printed(first.out)
    assert 0 < sent["sent"] < 1499, first.out
    assert len(recorder.received) == 1 + sent["sent"]  # what it says it sent, it sent
    # On the full disk (the journal holds what SQLite could not take): the first subscriber
    # had it from the run before.
    assert status(project) == {**sent, "sent": 1 + sent["sent"]}

    # Still nearly full: the lock was released; the run goes as far as the space allows
    # (or refuses to start), and nobody gets the edition twice or without a record.
    still = project.run("send", "--date", DAY, env=env(url), timeout=TIMEOUT)
    assert still.code in (1, 2), still.err
    assert "cannot write the database: No space left on device" in still.err
    assert len(recorder.received) == 1 + sent["sent"] + printed(still.out)["sent"]
    assert max(recorder.counts().values()) == 1

    filler.unlink()
    assert_rerun_completes(project, first, recorder, url)
    assert set(recorder.counts()) == set(emails)
    assert in_sqlite(disk / "newsletter.db")["sent"] == 1500


# --- faults injected where a real one is hard to time -----------------------------------

CASES = {
    # point: (after, subscribers, what the user is told)
    "worker": (20, 60, "stopped by an unexpected error: RuntimeError: injected fault"),
    "journal": (30, 60, "newsletter.db: cannot write the database: No space left on device"),
    "commit": (
        0, 600, "newsletter.db: cannot write the database: OperationalError: disk I/O error"
    ),
    "stream": (1, 700, "stopped by an unexpected error: RuntimeError: injected fault in the"),
}  # fmt: skip


@pytest.mark.parametrize("point", sorted(CASES))
def test_a_fault_in_a_worker_or_a_ledger_write_stops_the_send_cleanly(
    project: Project, smtp, point: str
) -> None:
    recorder, url = smtp
    after, count, message = CASES[point]
    many_subscribers(project, count)

    first = run_with_fault(project, point, after, env(url))

    assert first.code == 1, first.err
    assert message in first.out and message in first.err
    assert "rerun to continue" in first.out
    if point in ("journal", "commit"):  # the database's fault: said plainly
        assert "Traceback" not in first.err
    counts = printed(first.out)
    assert counts["sent"] < count
    assert status(project) == counts
    assert len(recorder.received) == counts["sent"]
    if point != "commit":  # the ledger reached SQLite (the commit fault keeps it out)
        assert in_sqlite(project.path / "newsletter.db") == counts
    assert_rerun_completes(project, first, recorder, url)
    assert in_sqlite(project.path / "newsletter.db")["sent"] == count


# --- the summary's counts equal the ledger's after every kind of stop --------------------


class DropsAfterData(Recorder):
    """Accepts ``accept`` messages, then drops every connection at DATA."""

    accept: int = 10

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        if len(self.received) >= self.accept:
            server.transport.close()
            await asyncio.sleep(0)
            return "421 closing"
        return await super().handle_DATA(server, session, envelope)


def test_connections_dropping_after_data_give_the_same_in_doubt_count_as_the_ledger(
    project: Project,
) -> None:
    from smtpserver import start_server

    emails = many_subscribers(project, 60)
    recorder = DropsAfterData()
    controller = start_server(recorder)
    url = f"smtp://127.0.0.1:{controller.port}"
    extra = {"NEWSLETTER_SMTP_CONNECTIONS": "3", "NEWSLETTER_PAUSE_AFTER_FAILURES": "5"}
    try:
        first = project.run("send", "--date", DAY, env=env(url, **extra), timeout=TIMEOUT)
        assert first.code == 1, first.err
        assert "paused after 5 consecutive failures" in first.out
        counts = printed(first.out)
        assert status(project) == counts
        assert in_sqlite(project.path / "newsletter.db") == counts
        # Each drop came after the final dot: in doubt, never resent within the run.
        assert counts["pending"] >= 5 and counts["deferred"] == 0, first.out
        assert len(recorder.received) == counts["sent"]

        recorder.accept = 10**6
        assert_rerun_completes(project, first, recorder, url)
    finally:
        controller.stop()
    assert set(recorder.counts()) == set(emails)


def test_a_full_outbox_gives_the_same_deferred_count_as_the_ledger(
    project: Project, mounts: Mounts
) -> None:
    import mailbox

    emails = many_subscribers(project, 80)
    outbox = mounts.tmpfs(project.path / "outbox", "4m")  # an existing, empty folder
    filler = fill(outbox, leave=8 * 1024)  # room for its folders, not for one message
    extra = {**FAST_RETRIES, "NEWSLETTER_PAUSE_AFTER_FAILURES": "5"}

    first = project.run("send", "--date", DAY, env=extra, timeout=TIMEOUT)

    assert first.code == 1, first.err
    assert "cannot write to the outbox" in first.err and "No space left" in first.err
    counts = printed(first.out)
    assert status(project) == counts
    assert in_sqlite(project.path / "newsletter.db") == counts
    assert counts["sent"] == 0 and counts["deferred"] >= 2, first.out

    filler.unlink()
    again = project.run("send", "--date", DAY, env=FAST_RETRIES, timeout=TIMEOUT)
    assert again.code == 0, again.err
    assert "80 messages written" in again.out
    box = mailbox.Maildir(outbox, create=False)
    recipients = sorted(m["To"].rsplit("<", 1)[1].rstrip(">") for m in box)
    assert recipients == emails


def test_every_row_of_the_readme_fault_matrix_names_a_test_that_exists() -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Reliability: what each fault does", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ") and "---" not in line]
    named: list[tuple[str, str]] = []
    for row in rows[1:]:  # after the header
        cell = row.rstrip(" |").rsplit(" | ", 1)[1]
        refs = re.findall(r"`([\w.]+(?:::\w+)?(?:\[\w+\])?)`", cell)
        assert refs, row
        for ref in refs:
            ref = re.sub(r"\[\w+\]$", "", ref)  # a parametrized case: its function
            if ref.startswith("..."):  # the file (and test) of the reference before
                path, name = named[-1][0], ref.removeprefix("...").removeprefix("::")
                name = name or named[-1][1]
            else:
                path, _, name = ref.partition("::")
            named.append((path, name))
    for path, name in named:
        source = (Path(__file__).parent / path).read_text(encoding="utf-8")
        assert f"def {name}(" in source, f"{path}::{name}"
    assert len(rows) > 15

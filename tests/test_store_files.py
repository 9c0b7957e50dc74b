"""The database and the files beside it, as a user's system treats them: modes under any
umask, an emptied or deleted database, a read-only one.

Read-only here means a read-only bind mount (the tests run as root, whom file modes do
not stop); where mounting is not permitted those tests are skipped and say why.
"""

from __future__ import annotations

import mailbox
import os
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import ACTIVE, Project, Run
from mounts import Mounts, mounted

DAY = "2026-11-27"


@pytest.fixture
def mounts() -> Iterator[Mounts]:
    with mounted() as made:
        yield made


def run_with_umask(project: Project, umask: int, *args: str) -> Run:
    full = {k: v for k, v in os.environ.items() if not k.startswith("NEWSLETTER_")}
    proc = subprocess.run(
        [sys.executable, "-m", "newsletter", *args],
        cwd=project.path, env=full, capture_output=True, text=True, timeout=60, umask=umask,
    )  # fmt: skip
    return Run(proc.returncode, proc.stdout, proc.stderr)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def outbox_count(project: Project) -> int:
    return len(list((project.path / "outbox" / "new").iterdir()))


# --- owner-only files whatever the umask -----------------------------------------------


@pytest.mark.parametrize("umask", [0o022, 0o000], ids=["umask-022", "umask-000"])
def test_the_database_and_everything_holding_personal_data_is_owner_only(
    project: Project, umask: int
) -> None:
    run = run_with_umask(project, umask, "send", "--date", DAY)
    assert run.code == 0, run.err
    preview = run_with_umask(project, umask, "preview", "--date", DAY)
    assert preview.code == 0, preview.err

    p = project.path
    for name in ("newsletter.db", "newsletter.db.journal", "newsletter.db.lock"):
        assert mode(p / name) == 0o600, name
    assert not (p / "newsletter.db.reserve").exists()  # held only during a send
    for folder in ("outbox", "outbox/new", "outbox/cur", "outbox/tmp", "previews"):
        assert mode(p / folder) == 0o700, folder
    messages = list((p / "outbox" / "new").iterdir())
    assert len(messages) == len(ACTIVE) and {mode(m) for m in messages} == {0o600}
    assert {mode(f) for f in (p / "previews").iterdir()} == {0o600}
    # SQLite gives -wal and -shm the database's mode: open it as any reader would.
    old = os.umask(umask)
    try:
        db = sqlite3.connect(p / "newsletter.db")
        db.execute("SELECT COUNT(*) FROM deliveries").fetchone()
        assert mode(p / "newsletter.db-wal") == mode(p / "newsletter.db-shm") == 0o600
        db.close()
    finally:
        os.umask(old)
    # The web archive is public on purpose: a web server must read it.
    assert mode(p / "archive" / f"{DAY}.html") == 0o644


def test_a_database_others_can_read_is_warned_about_once_with_the_chmod_to_run(
    project: Project,
) -> None:
    assert project.run("send", "--date", DAY).code == 0
    (project.path / "newsletter.db").chmod(0o644)

    run = project.run("send", "--date", DAY)

    assert run.code == 0, run.err
    warning = "newsletter.db is readable by other users (mode 0644)"
    assert run.err.count(warning) == 1, run.err
    assert f"run chmod 600 {project.path / 'newsletter.db'}*" in run.err
    assert "subscriber address" in run.err and "unsubscribe key" in run.err
    (project.path / "newsletter.db").chmod(0o600)
    assert "readable by other users" not in project.run("send", "--date", DAY).err


# --- a lost database is not a new project ------------------------------------------------


@pytest.mark.parametrize("loss", ["emptied", "deleted"])
def test_an_emptied_or_deleted_database_is_refused_instead_of_mailing_everyone_again(
    project: Project, smtp, loss: str
) -> None:
    recorder, url = smtp
    env = {"NEWSLETTER_SMTP_URL": url}
    assert project.run("send", "--date", DAY, env=env).code == 0
    database = project.path / "newsletter.db"
    if loss == "emptied":
        database.write_bytes(b"")  # : > newsletter.db
    else:
        database.unlink()

    for command in (("send", "--date", DAY), ("collect",)):
        run = project.run(*command, env=env)
        assert run.code == 2, run.err
        state = "empty" if loss == "emptied" else "missing"
        assert f"newsletter.db is {state}, but " in run.err
        assert "newsletter.db.journal, " in run.err and "newsletter.db.lock show earlier" in run.err
        assert "every edition again, under a new unsubscribe key" in run.err
        assert "to start over on purpose, move" in run.err
        assert "Traceback" not in run.err
    assert len(recorder.received) == len(ACTIVE)  # nobody got it twice
    assert database.stat().st_size == 0 if loss == "emptied" else not database.exists()


def test_deleting_every_database_file_is_refused_when_the_outbox_and_archive_show_editions(
    project: Project,
) -> None:
    assert project.run("send", "--date", DAY).code == 0  # the README's first command
    for name in ("newsletter.db", "newsletter.db.journal", "newsletter.db.lock"):
        (project.path / name).unlink()  # rm newsletter.db*

    run = project.run("send", "--date", DAY)

    assert run.code == 2, run.err
    assert "newsletter.db has no edition, but " in run.err
    assert "outbox" in run.err and "archive" in run.err
    assert outbox_count(project) == len(ACTIVE)

    # Starting over on purpose: the hint's way.
    (project.path / "outbox").rename(project.path / "outbox.old")
    (project.path / "archive").rename(project.path / "archive.old")
    again = project.run("send", "--date", DAY)
    assert again.code == 0, again.err
    assert outbox_count(project) == len(ACTIVE)


def test_a_brand_new_project_is_not_refused_whatever_runs_first(project: Project) -> None:
    added = project.run("subscribers", "add", "new@example.com")
    assert added.code == 0, added.err
    collected = project.run("collect")
    assert collected.code == 0, collected.err

    run = project.run("send", "--date", DAY)

    assert run.code == 0, run.err
    assert outbox_count(project) == len(ACTIVE) + 1


# --- a read-only database ----------------------------------------------------------------


def test_a_read_only_database_is_named_with_what_to_do_and_nothing_is_sent(
    project: Project, smtp, mounts: Mounts
) -> None:
    recorder, url = smtp
    env = {"NEWSLETTER_SMTP_URL": url}
    assert project.run("send", "--date", DAY, env=env).code == 0
    project.write("seeds/900_new.md", "---\ntitle: Tomorrow\nsection: World\n---\nNews.\n")
    csv_before = (project.path / "subscribers" / "subscribers.csv").read_bytes()
    database = project.path / "newsletter.db"
    mounts.read_only(database)

    for command in (
        ("send", "--date", "2026-11-28"),
        ("collect",),
        ("subscribers", "unsubscribe", "ada@example.com"),
    ):
        run = project.run(*command, env=env)
        assert run.code == 2, (command, run.err)
        assert f"{database}: cannot write the database: it is read-only" in run.err
        assert "hint: the user running newsletter must be able to write newsletter.db" in run.err
        assert "Traceback" not in run.err
    assert len(recorder.received) == len(ACTIVE)
    assert (project.path / "subscribers" / "subscribers.csv").read_bytes() == csv_before
    status = project.run("status")  # reading still works
    assert status.code == 0 and DAY in status.out

    mounts.unmount(database)
    again = project.run("send", "--date", "2026-11-28", env=env)
    assert again.code == 0, again.err
    assert len(recorder.received) == 2 * len(ACTIVE)


def test_a_read_only_folder_names_the_lock_file(project: Project, mounts: Mounts) -> None:
    project.write("newsletter.toml", 'database = "state/newsletter.db"\n')
    assert project.run("send", "--date", DAY).code == 0
    mounts.read_only(project.path / "state")

    run = project.run("send", "--date", DAY)

    assert run.code == 2, run.err
    lock = project.path / "state" / "newsletter.db.lock"
    assert f"{lock}: cannot write the lock file: Read-only file system" in run.err
    assert "Traceback" not in run.err


def test_mailbox_folders_are_made_in_an_existing_empty_outbox(project: Project) -> None:
    (project.path / "outbox").mkdir()  # made by hand, or a mount point

    run = project.run("send", "--date", DAY)

    assert run.code == 0, run.err
    assert len(mailbox.Maildir(project.path / "outbox", create=False)) == len(ACTIVE)

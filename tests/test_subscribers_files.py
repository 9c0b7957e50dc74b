"""The list's files: temp files owner-only and never left behind, modes kept."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from conftest import Project

LIST = "subscribers/subscribers.csv"


def temps(project: Project) -> list[Path]:
    return sorted((project.path / "subscribers").glob(".subscribers.csv.*.tmp"))


def test_a_killed_import_leaves_an_owner_only_temp_that_the_next_run_removes(
    project: Project,
) -> None:
    export = project.path / "big.csv"
    with export.open("w", encoding="utf-8") as handle:
        handle.write("email,name\n")
        handle.writelines(f"reader{i}@example.com,Reader {i}\n" for i in range(150_000))
    importing = subprocess.Popen(
        [sys.executable, "-m", "newsletter", "subscribers", "import", "big.csv"],
        cwd=project.path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while not temps(project) and importing.poll() is None and time.monotonic() < deadline:
            time.sleep(0.002)
        os.kill(importing.pid, signal.SIGKILL)
    finally:
        importing.wait()
    (stale,) = temps(project)
    assert oct(stale.stat().st_mode & 0o777) == oct(0o600)  # the list copy was never readable
    before = (project.path / LIST).read_bytes()

    foreign = project.path / "subscribers" / ".subscribers.csv.notours.tmp"  # not mkstemp's
    foreign.write_text("keep")
    run = project.run("send", "--date", "2026-11-27")

    assert run.code == 0, run.err
    assert temps(project) == [foreign]
    assert (project.path / LIST).read_bytes() == before  # the killed import changed nothing


def test_stale_temps_go_before_a_list_change_and_links_are_left_alone(project: Project) -> None:
    folder = project.path / "subscribers"
    ours = folder / ".subscribers.csv.ab12cd_9.tmp"
    ours.write_text("email\nsomeone@example.com\n")
    target = project.path / "elsewhere.txt"
    target.write_text("not ours")
    link = folder / ".subscribers.csv.zz12cd_9.tmp"
    link.symlink_to(target)
    other_list = folder / ".other.csv.ab12cd_9.tmp"
    other_list.write_text("another list's")

    assert project.run("subscribers", "add", "new@example.com").code == 0

    assert not ours.exists()
    assert link.is_symlink() and target.read_text() == "not ours"
    assert other_list.exists()


def test_a_new_list_is_owner_only_and_a_rewrite_keeps_the_mode(project: Project) -> None:
    path = project.path / LIST
    path.unlink()

    assert project.run("subscribers", "add", "first@example.com").code == 0
    assert oct(path.stat().st_mode & 0o777) == oct(0o600)

    os.chmod(path, 0o640)
    assert project.run("subscribers", "unsubscribe", "first@example.com").code == 0
    assert oct(path.stat().st_mode & 0o777) == oct(0o640)

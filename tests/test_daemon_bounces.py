"""The daemon reads the bounce mailbox on ``bounce_schedule``, never at the same time as
a send: a fire during a send is skipped, a send due during a bounce run waits for it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from datetime import UTC, datetime

import pytest
from bouncebox import (
    EXPECTED,
    SUBSCRIBERS,
    copies,
    deliver,
    filled,
    maildir,
    sent_project,
    statuses,
)
from conftest import Project

from newsletter.daemon.scheduler import Daemon
from newsletter.settings import load_settings
from newsletter.store.lock import lock_path, run_lock

CONFIG = """
    bounce_address = "bounces@example.org"
    bounce_mailbox = "bouncebox"
    bounce_schedule = "*/10 * * * *"
    """
NOW = datetime(2026, 12, 1, 9, 1, tzinfo=UTC)


def _daemon(project: Project) -> Daemon:
    settings, _ = load_settings(project.path / "newsletter.toml")
    return Daemon(settings, lambda: NOW)


def test_the_schedule_reads_the_mailbox_and_is_announced(
    project: Project, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(project.path)
    sent_project(project, config=CONFIG)
    box = maildir(project.path / "bouncebox")
    deliver(box, "postfix-dsn.eml", filled("postfix-dsn.eml", copies(project)))
    caplog.set_level(logging.INFO, logger="newsletter")
    daemon = _daemon(project)
    daemon.announce()
    assert "bounce schedule '*/10 * * * *': next read of the bounce mailbox 2026-12-01T09:10" in (
        caplog.text
    )

    async def fire() -> None:
        await daemon.scheduled_bounces()

    asyncio.run(fire())
    assert "bounces: 1 hard bounce, 0 soft bounces" in caplog.text
    assert statuses(project)["ada@example.com"] == "bounced"


def test_a_fire_during_a_send_is_skipped(
    project: Project, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(project.path)
    sent_project(project, config=CONFIG)
    box = maildir(project.path / "bouncebox")
    deliver(box, "postfix-dsn.eml", filled("postfix-dsn.eml", copies(project)))
    caplog.set_level(logging.INFO, logger="newsletter")
    daemon = _daemon(project)
    daemon.health.running = True  # a send is going on
    asyncio.run(daemon.scheduled_bounces())
    assert "bounce mailbox not read now: a send is running" in caplog.text
    assert statuses(project) == {a: "active" for a in EXPECTED}
    assert len(list((box / "new").iterdir())) == 1


async def _bounce_run_holding_the_lock(daemon: Daemon, project: Project) -> None:
    """What a bounce run does while it reads the mailbox: the daemon's bounce lock and the
    run lock held, for a moment."""
    async with daemon.bounces.lock:
        with run_lock(lock_path(project.path / "newsletter.db")):
            await asyncio.sleep(0.3)


async def _during_a_bounce_run(daemon: Daemon, project: Project, job: Awaitable[None]) -> None:
    bounce_run = asyncio.create_task(_bounce_run_holding_the_lock(daemon, project))
    await asyncio.sleep(0.05)  # the bounce run has both locks now
    await job
    await bounce_run


def test_a_send_due_during_a_bounce_run_waits_for_it(
    project: Project, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(project.path)
    project.write("subscribers/subscribers.csv", SUBSCRIBERS)
    project.write("newsletter.toml", CONFIG)
    caplog.set_level(logging.INFO, logger="newsletter")
    daemon = _daemon(project)
    day = NOW.date()
    asyncio.run(_during_a_bounce_run(daemon, project, daemon.send_day(day)))
    assert "another run holds the lock" not in caplog.text
    assert daemon.is_done(day)
    assert set(copies(project)) == set(EXPECTED)


def test_a_collection_or_proof_due_during_a_bounce_run_waits_for_it(
    project: Project, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(project.path)
    project.write("subscribers/subscribers.csv", SUBSCRIBERS)
    project.write("newsletter.toml", CONFIG)
    caplog.set_level(logging.INFO, logger="newsletter")
    daemon = _daemon(project)

    async def main() -> None:
        await _during_a_bounce_run(daemon, project, daemon.collect())
        await _during_a_bounce_run(daemon, project, daemon.proof_day(NOW.date()))

    asyncio.run(main())
    assert "collection skipped" not in caplog.text
    assert "collection: " in caplog.text and " new articles stored" in caplog.text
    assert "skipped: another run holds the lock" not in caplog.text
    assert "edition 2026-12-01 is already approved: no proof needed" in caplog.text  # it ran

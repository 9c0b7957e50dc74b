"""The daemon reads the bounce mailbox on ``bounce_schedule``, never at the same time as
a send: a fire during a send is skipped, a send due during a bounce run waits for it."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

import pytest
from bouncebox import EXPECTED, copies, deliver, filled, maildir, sent_project, statuses
from conftest import Project

from newsletter.daemon.scheduler import Daemon
from newsletter.settings import load_settings

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


def test_a_send_waits_for_a_bounce_run(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(project.path)
    sent_project(project, config=CONFIG)
    daemon = _daemon(project)
    order: list[str] = []

    async def main() -> None:
        async with daemon.bounces.lock:  # a bounce run in progress
            waiter = asyncio.create_task(daemon.bounces.idle())
            await asyncio.sleep(0.05)
            order.append("bounces done" if not waiter.done() else "send did not wait")
        await waiter
        order.append("send goes")

    asyncio.run(main())
    assert order == ["bounces done", "send goes"]

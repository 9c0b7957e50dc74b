"""The daemon's bounce job: ``job.bounces_locked`` on ``bounce_schedule``.

It never overlaps a send: a fire while a send runs is skipped (the next one reads the
mailbox), and a send, proof or collection that comes due while the mailbox is read waits
for that to end (``idle``) instead of finding the run lock held and missing its day.
Failures are logged and shown on /healthz; the daemon goes on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime

from ..errors import LockedError, NewsletterError
from ..job import bounces_locked
from ..settings import Settings
from ..settings.cron import next_runs, parse_schedule
from .health import HealthState
from .trigger import CrontabTrigger

log = logging.getLogger("newsletter")


class BounceJob:
    """Reads the bounce mailbox when its schedule fires, one run at a time."""

    def __init__(
        self, settings: Settings, clock: Callable[[], datetime], health: HealthState
    ) -> None:
        self.settings, self.clock, self.health = settings, clock, health
        self.lock = asyncio.Lock()
        schedule = settings.bounce_schedule
        self.trigger = CrontabTrigger(parse_schedule(schedule, settings.zone)) if schedule else None

    async def run(self, busy: Callable[[], bool]) -> None:
        """One pass, unless ``busy()`` (a send is running). Never raises."""
        if busy() or self.lock.locked():
            log.info("bounce mailbox not read now: a send is running; the next schedule reads it")
            return
        async with self.lock:
            try:
                summary = await bounces_locked(self.settings, self.clock())
            except LockedError:
                log.info("bounce mailbox not read now: another run holds the lock")
            except NewsletterError as exc:
                log.warning("bounce mailbox: %s", exc)
                self.health.error(self.clock(), f"bounces: {exc.message}")
            except Exception:  # a bug must not kill the daemon; logged in full
                log.exception("bounce mailbox: the run failed")
            else:
                from ..bounces.apply import summary_line  # loaded with the job: flufl.bounce

                log.info("%s", summary_line(summary))

    async def idle(self) -> None:
        """Wait until no bounce run is going on."""
        async with self.lock:
            return

    def announce(self) -> None:
        if self.trigger is None:
            return
        first = next_runs(self.trigger.crontab, self.clock(), 1)
        log.info(
            "bounce schedule %r: next read of the bounce mailbox %s",
            self.settings.bounce_schedule, first[0].isoformat() if first else "never",
        )  # fmt: skip

"""The schedule as an APScheduler 3 trigger: APScheduler runs the jobs, cron's times come
from ``settings.cron.Crontab`` (cronsim, daylight-saving changes as Debian cron handles them).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from apscheduler.triggers.base import BaseTrigger

from ..settings.cron import Crontab


class CrontabTrigger(BaseTrigger):
    """Fires at ``crontab``'s times."""

    def __init__(self, crontab: Crontab) -> None:
        self.crontab = crontab

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        """APScheduler's question: the first fire after ``previous_fire_time`` if there was
        one (even when that is before ``now``: the scheduler coalesces missed fires), else
        the first at or after ``now``; None when the expression never fires again."""
        if previous_fire_time is not None:
            return self.crontab.next_after(previous_fire_time)
        return self.crontab.next_at_or_after(now)

    def __str__(self) -> str:
        return str(self.crontab)


class LeadTrigger(CrontabTrigger):
    """Fires ``lead`` before each of ``crontab``'s times (the proof before a send)."""

    def __init__(self, crontab: Crontab, lead: timedelta) -> None:
        super().__init__(crontab)
        self.lead = lead

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        """As ``CrontabTrigger``'s, for the send times ``lead`` later."""
        if previous_fire_time is not None:
            send = self.crontab.next_after(previous_fire_time + self.lead)
        else:
            send = self.crontab.next_at_or_after(now + self.lead)
        return None if send is None else send - self.lead

    def __str__(self) -> str:
        return f"{self.crontab} - {self.lead}"

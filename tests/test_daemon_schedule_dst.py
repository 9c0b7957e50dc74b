"""Schedules across daylight-saving changes, checked against a brute-force oracle.

The oracle knows nothing of cronsim or APScheduler: it walks every UTC minute of two years,
reads the wall clock there with zoneinfo, and applies cron's rules (Debian cron(8), "time
changes") directly:

- a job at a fixed time runs at the first real minute whose wall-clock reading is at or
  past that time: its first occurrence when the clock passes it twice (fall back), the
  minute right after the jump when the clock skips it (spring forward);
- a job with ``*`` in the hour runs at every real minute whose reading matches.

Every local day of the window is checked for every schedule, in every zone: nothing is
sampled. The zones cover changes at 00:00 (some falling back to the previous day), 01:00,
02:00, 03:00 and 04:00, a two-hour change, half-hour changes and offsets, and zones whose
change rules were dropped since (checked in years they still changed).
"""

from __future__ import annotations

import bisect
import itertools
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo

import pytest

from newsletter.settings.cron import next_runs, parse_schedule

NOW = (date(2026, 1, 1), date(2027, 12, 31))
ZONES = {
    "Europe/Paris": NOW,  # 02:00 -> 03:00, 03:00 -> 02:00
    "Europe/London": NOW,  # 01:00 -> 02:00
    "Europe/Dublin": NOW,  # the same clock as London, written as a negative DST in tzdata
    "Atlantic/Azores": NOW,  # 00:00 -> 01:00, 01:00 -> 00:00
    "Europe/Helsinki": NOW,  # 03:00 -> 04:00, 04:00 -> 03:00
    "Europe/Chisinau": NOW,
    "America/New_York": NOW,  # 02:00 -> 03:00, 02:00 -> 01:00
    "America/Havana": NOW,  # 00:00 -> 01:00: midnight does not exist that day
    "America/Santiago": NOW,  # 24:00 -> 23:00 of the same Saturday
    "Pacific/Easter": NOW,  # 22:00 local
    "America/St_Johns": NOW,  # a half-hour offset (-03:30)
    "America/Nuuk": NOW,
    "Asia/Beirut": NOW,  # 00:00 changes both ways
    "Africa/Cairo": NOW,  # 00:00 -> 01:00, 24:00 -> 23:00
    "Africa/Casablanca": NOW,  # back an hour for Ramadan, forward after it, on Sundays
    "Asia/Jerusalem": NOW,  # Friday 02:00
    "Asia/Gaza": NOW,
    "Australia/Sydney": NOW,  # southern hemisphere: spring in October
    "Australia/Adelaide": NOW,  # +09:30 / +10:30
    "Australia/Lord_Howe": NOW,  # a half-hour change: 02:00 -> 02:30, 02:00 -> 01:30
    "Pacific/Chatham": NOW,  # +12:45 / +13:45, at 02:45
    "Pacific/Auckland": NOW,
    "Antarctica/Troll": NOW,  # a two-hour change: 01:00 -> 03:00
    "Asia/Tehran": (date(2021, 1, 1), date(2022, 12, 31)),  # 24:00 changes, until 2022
    "Asia/Damascus": (date(2021, 1, 1), date(2022, 12, 31)),  # 00:00, until 2022
    "America/Asuncion": (date(2022, 1, 1), date(2023, 12, 31)),  # 00:00, until 2024
}
DAILY = [time(0, 0), time(0, 30), time(1, 0), time(2, 30), time(7, 0)]
MINUTE = timedelta(minutes=1)


@dataclass(frozen=True, eq=False)
class Walk:
    """Every UTC minute covering a zone's window, with the wall clock read there.

    The readings are aware datetimes sharing the zone's tzinfo, which Python compares,
    orders and subtracts by their wall-clock reading alone (not as instants): that is
    what cron sees, and it spares a copy of a million datetimes per zone.
    """

    zone: ZoneInfo
    first: date
    last: date
    start: datetime  # UTC: minute n of the walk is start + n minutes
    walls: list[datetime]  # the reading at each minute
    reached: list[datetime]  # the highest reading so far: sorted

    def instant(self, index: int) -> datetime:
        return self.start + index * MINUTE

    def days(self) -> list[date]:
        return [self.first + timedelta(days=n) for n in range((self.last - self.first).days + 1)]

    def fixed_time(self, at: time, days: list[date]) -> list[datetime]:
        """Cron's run for wall time ``at`` on each day: the first real minute whose reading
        is at or past it."""
        wanted = (datetime.combine(day, at, self.zone) for day in days)
        return [self.instant(bisect.bisect_left(self.reached, wall)) for wall in wanted]

    def clock(self, minute: int, first: int, last: int) -> list[datetime]:
        """Minutes ``first``..``last`` of the walk whose reading is ``minute`` past an hour."""
        return [self.instant(n) for n in range(first, last) if self.walls[n].minute == minute]

    def changes(self) -> list[tuple[int, datetime, timedelta]]:
        """Each change: its minute in the walk, the reading it happens at (as the clock
        would have read without it), and how far the clock moves."""
        out = []
        for index in range(1, len(self.walls)):
            step = self.walls[index] - self.walls[index - 1]
            if step != MINUTE:
                out.append((index, self.walls[index - 1] + MINUTE, step - MINUTE))
        return out


@cache
def walk(name: str) -> Walk:
    """The oracle's data: one UTC minute after another, from a day before the window's
    first local day to two days after its last."""
    zone = ZoneInfo(name)
    first, last = ZONES[name]
    start = datetime.combine(first - timedelta(days=1), time(), UTC)
    minutes = ((last - first).days + 4) * 24 * 60
    instants = itertools.accumulate(itertools.repeat(MINUTE, minutes - 1), initial=start)
    walls = [instant.astimezone(zone) for instant in instants]
    return Walk(zone, first, last, start, walls, list(itertools.accumulate(walls, max)))


def fires(expression: str, zone: ZoneInfo, start: datetime, count: int) -> list[datetime]:
    """What the schedule does: its next ``count`` runs from ``start``, as UTC instants."""
    trigger = parse_schedule(expression, zone)
    return [t.astimezone(UTC) for t in next_runs(trigger, start, count)]


def test_the_zones_cover_changes_at_every_hour_and_of_every_size() -> None:
    at_hours: set[time] = set()
    sizes: set[timedelta] = set()
    for name in ZONES:
        changes = walk(name).changes()
        assert len(changes) >= 2, f"{name} has no changes in its window: pick other years"
        at_hours.update(wall.time() for _, wall, _ in changes)
        sizes.update(abs(jump) for _, _, jump in changes)
    assert {time(0), time(1), time(2), time(3), time(4)} <= at_hours
    assert time(2, 45) in at_hours  # Chatham
    assert {timedelta(minutes=30), timedelta(hours=1), timedelta(hours=2)} <= sizes


@pytest.mark.parametrize("name", sorted(ZONES))
def test_a_daily_schedule_runs_once_on_every_local_day(name: str) -> None:
    data = walk(name)
    days = data.days()
    for at in DAILY:
        expected = data.fixed_time(at, days)
        for expression in (f"{at.minute} {at.hour} * * *", f"0 {at.minute} {at.hour} * * *"):
            got = fires(expression, data.zone, expected[0], len(expected))
            assert got == expected, first_difference(name, expression, got, expected)
            local_days = Counter(t.astimezone(data.zone).date() for t in got)
            assert set(local_days) == set(days) and set(local_days.values()) == {1}, expression


@pytest.mark.parametrize("name", sorted(ZONES))
def test_weekly_monthly_and_either_day_schedules_follow_the_oracle(name: str) -> None:
    data = walk(name)
    all_days = data.days()
    schedules = [
        ("0 0 * * 0", time(0), lambda d: d.isoweekday() == 7),  # Sundays at midnight
        ("30 2 * * sat", time(2, 30), lambda d: d.isoweekday() == 6),
        ("0 0 1 * *", time(0), lambda d: d.day == 1),
        ("0 7 1 * fri", time(7), lambda d: d.day == 1 or d.isoweekday() == 5),  # either day
        ("@weekly", time(0), lambda d: d.isoweekday() == 7),
    ]
    for expression, at, matches in schedules:
        expected = data.fixed_time(at, [d for d in all_days if matches(d)])
        got = fires(expression, data.zone, expected[0], len(expected))
        assert got == expected, first_difference(name, expression, got, expected)


@pytest.mark.parametrize("name", sorted(ZONES))
def test_an_hourly_schedule_follows_the_clock_as_it_reads(name: str) -> None:
    # a job with '*' in the hour runs whenever the clock reads its minute: a skipped hour
    # has no run, a repeated one runs again; checked from a day before each change to a
    # day after it
    data = walk(name)
    day = 24 * 60
    for expression, minute in (("0 * * * *", 0), ("@hourly", 0), ("30 * * * *", 30),
                               ("45 * * * *", 45), ("30 0 * * * *", 0)):  # fmt: skip
        for index, _, _ in data.changes():
            expected = data.clock(minute, index - day, index + day)
            if expression.count(" ") == 5:  # the seconds field: 30 s into the minute
                expected = [t + timedelta(seconds=30) for t in expected]
            got = fires(expression, data.zone, expected[0], len(expected))
            assert got == expected, first_difference(name, expression, got, expected)


def first_difference(name: str, expression: str, got: list[datetime], want: list[datetime]) -> str:
    """Where the schedule and the oracle part, in local time: the failure message."""
    zone = ZoneInfo(name)
    for index, (a, b) in enumerate(zip(got, want, strict=False)):
        if a != b:
            return (
                f"{name} {expression!r}: run {index} is {a.astimezone(zone).isoformat()}, "
                f"cron runs it at {b.astimezone(zone).isoformat()}"
            )
    return f"{name} {expression!r}: {len(got)} runs, cron has {len(want)}"

"""Crontab expressions with cron's meaning, as APScheduler triggers (pure: no clock, no I/O).

APScheduler 3 reads a crontab differently from cron in three ways, each of which would
silently move a newsletter to another day or time; this module translates them:

- weekdays: cron counts 0 (or 7) = Sunday, APScheduler 0 = Monday. Numeric weekdays are
  translated to names, so ``0 7 * * 0`` fires on Sundays, as in cron.
- day of month *and* day of week both restricted: cron fires when EITHER matches
  (``0 7 1 * mon`` = the 1st and every Monday); APScheduler when both do. Built as an
  ``OrTrigger`` of the two.
- daylight-saving changes: a wall-clock time that occurs twice (fall back) fires once, at
  its first occurrence; one that does not exist (spring forward) fires once, at the same
  distance after the change (02:30 on a 02:00→03:00 night fires at 03:30).

An optional sixth, leading field gives seconds (``*/10 * * * * *``), as in Quartz.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, tzinfo

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.combining import OrTrigger
from apscheduler.triggers.cron import CronTrigger

DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")  # cron's order: 0 = Sunday
MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_DOW_PART = re.compile(r"^(?P<range>\*|[a-z0-9]+(?:-[a-z0-9]+)?)(?:/(?P<step>\d+))?$")


class WallClockTrigger(BaseTrigger):
    """Wraps a cron trigger so that a wall-clock time repeated by a fall-back change fires
    only at its first occurrence, and fire times are given in the zone's real offset."""

    def __init__(self, inner: BaseTrigger, zone: tzinfo, expression: str) -> None:
        self.inner = inner
        self.zone = zone
        self.expression = expression

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        fire = self.inner.get_next_fire_time(previous_fire_time, now)
        while fire is not None and _second_occurrence(fire):
            fire = self.inner.get_next_fire_time(fire, fire)
        # a nonexistent local time (02:30+01:00 on a spring-forward night) shown as the
        # instant it really is (03:30+02:00)
        return None if fire is None else fire.astimezone(UTC).astimezone(self.zone)

    def __str__(self) -> str:
        return f"cron[{self.expression}]"


def _second_occurrence(moment: datetime) -> bool:
    """Whether ``moment`` is the repeat of an ambiguous wall-clock time (fold=1)."""
    return moment.fold == 1 and moment.replace(fold=0).utcoffset() != moment.utcoffset()


def parse_schedule(expression: str, zone: tzinfo) -> WallClockTrigger:
    """A trigger firing when cron would fire ``expression`` in ``zone``.

    Raises:
        ValueError: the expression is not a crontab expression; the message says which
            field is wrong and how to write it.
    """
    text = " ".join(expression.split()).lower()
    fields = MACROS.get(text, text).split(" ")
    if len(fields) == 5:
        fields.insert(0, "0")
    if len(fields) != 6:
        raise ValueError(
            f"{expression!r} is not a crontab expression: write 5 fields "
            "'minute hour day-of-month month day-of-week' (e.g. '0 7 * * mon-fri'), "
            "optionally preceded by seconds"
        )
    second, minute, hour, dom, month, dow = fields
    days = _weekdays(dow, expression)
    common = {"second": second, "minute": minute, "hour": hour, "month": month}
    try:
        if dom != "*" and days != "*":  # cron: either day field matches
            inner: BaseTrigger = OrTrigger(
                [
                    CronTrigger(day=dom, timezone=zone, **common),
                    CronTrigger(day_of_week=days, timezone=zone, **common),
                ]
            )
        else:
            inner = CronTrigger(day=dom, day_of_week=days, timezone=zone, **common)
    except ValueError as exc:
        raise ValueError(f"{expression!r} is not a valid crontab expression: {exc}") from None
    return WallClockTrigger(inner, zone, expression.strip())


def _weekdays(field: str, expression: str) -> str:
    """Cron's day-of-week field (0/7 = Sunday, names, ranges, steps) as APScheduler day
    names, so no number is ever read with APScheduler's Monday = 0.

    Raises:
        ValueError: a part of the field is not a weekday, or a range runs backwards.
    """
    if field in ("*", "?"):
        return "*"
    days: set[int] = set()
    for part in field.split(","):
        match = _DOW_PART.match(part)
        if not match:
            raise ValueError(f"{expression!r}: {part!r} is not a day of the week")
        step = int(match["step"] or 1)
        if match["range"] == "*":
            first, last = 0, 6
        else:
            ends = match["range"].split("-")
            first = _day_number(ends[0], expression)
            last = _day_number(ends[-1], expression) if len(ends) > 1 else first
            if match["step"] and len(ends) == 1:
                last = 7  # "1/2": from Monday to the end of the week, every second day
            if last < first:
                raise ValueError(
                    f"{expression!r}: the weekday range {part!r} runs backwards: "
                    "split it, e.g. 'fri-sat,sun' or '5-6,0'"
                )
        if step < 1:
            raise ValueError(f"{expression!r}: step 0 in {part!r}")
        days.update(n % 7 for n in range(first, last + 1, step))
    if len(days) == 7:
        return "*"
    order = [1, 2, 3, 4, 5, 6, 0]  # list Monday first, as people read a week
    return ",".join(DAY_NAMES[n] for n in order if n in days)


def _day_number(token: str, expression: str) -> int:
    if token.isdigit():
        number = int(token)
        if number > 7:
            raise ValueError(
                f"{expression!r}: weekday {token} is out of range: use 0-7 "
                "(0 and 7 are Sunday) or names sun, mon, ..., sat"
            )
        return number
    if token[:3] in DAY_NAMES and len(token) == 3:
        return DAY_NAMES.index(token)
    raise ValueError(f"{expression!r}: {token!r} is not a day of the week (sun, mon, ...)")


def next_runs(trigger: BaseTrigger, now: datetime, count: int) -> list[datetime]:
    """The next ``count`` fire times after ``now`` (fewer if the schedule ends)."""
    runs: list[datetime] = []
    previous: datetime | None = None
    moment = now
    while len(runs) < count:
        fire = trigger.get_next_fire_time(previous, moment)
        if fire is None:
            break
        runs.append(fire)
        previous = moment = fire
    return runs


def previous_run(trigger: BaseTrigger, now: datetime, lookback: timedelta) -> datetime | None:
    """The last fire time at or before ``now``, looking back at most ``lookback``.

    A binary search over "the next fire time from t", which only grows with t: about 20
    trigger evaluations whatever the schedule (even one firing every second).
    """
    low = now - lookback
    first = trigger.get_next_fire_time(None, low)
    if first is None or first > now:
        return None
    at_now = trigger.get_next_fire_time(None, now)
    if at_now is not None and at_now <= now:
        return at_now
    high = now  # invariant: next(low) <= now < next(high)
    while high - low > timedelta(seconds=0.5):
        middle = low + (high - low) / 2
        fire = trigger.get_next_fire_time(None, middle)
        if fire is not None and fire <= now:
            low = middle
        else:
            high = middle
    return trigger.get_next_fire_time(None, low)


_DURATION = re.compile(r"^(?:(?P<h>\d+(?:\.\d+)?)h)?(?:(?P<m>\d+(?:\.\d+)?)m(?:in)?)?"
                       r"(?:(?P<s>\d+(?:\.\d+)?)s)?$")  # fmt: skip


def parse_duration(value: object) -> timedelta:
    """A duration from ``"3h"``, ``"90m"``, ``"1h30m"``, ``"45s"`` or a number of minutes.

    Raises:
        ValueError: anything else, with the accepted forms.
    """
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
        return timedelta(minutes=value)
    text = str(value).strip().lower().replace(" ", "")
    if isinstance(value, str) and re.fullmatch(r"\d+(?:\.\d+)?", text):
        return timedelta(minutes=float(text))  # NEWSLETTER_LATE_GRACE=90: minutes, as in TOML
    match = _DURATION.match(text)
    if isinstance(value, str) and text and match:
        parts = {k: float(v) for k, v in match.groupdict().items() if v}
        return timedelta(hours=parts.get("h", 0), minutes=parts.get("m", 0),
                         seconds=parts.get("s", 0))  # fmt: skip
    raise ValueError(
        f"{value!r} is not a duration: write e.g. '3h', '90m', '1h30m', '45s' or a number "
        "of minutes"
    )

"""Crontab expressions with cron's meaning, and their fire times (pure: no clock, no I/O).

The fire times come from cronsim (healthchecks.io's evaluator, which follows Debian cron,
see cron(8) "daylight saving time and other time changes"); the daemon's APScheduler only
runs the job at them (``daemon.trigger``). What that gives, in the ``timezone`` setting's zone:

- weekdays as cron counts them: 0 and 7 are Sunday (APScheduler's own cron trigger counts
  0 as Monday); names ``sun``..``sat`` and ``jan``..``dec`` work too;
- when day of month and day of week are both restricted (neither starts with ``*``),
  either one matching fires: ``0 7 1 * mon`` is the 1st and every Monday;
- daylight-saving changes, for a job at a fixed time (neither minute nor hour starts with
  ``*``): a time skipped by a jump forward runs once, right after the jump (``30 2 * * *``
  on a 02:00→03:00 night runs at 03:00); a time repeated by a fall back runs once, at its
  first occurrence. So a daily schedule runs exactly once on every local day. A job with
  ``*`` in the minute or hour (``0 * * * *``, ``*/15 * * * *``) follows the clock as it
  reads: a skipped 02:00 does not run, a repeated 02:00 runs again, an hour later.

What this module adds to cronsim: the shortcuts (``@daily``...), an optional sixth, leading
field of seconds that keeps the five fields' daylight-saving rules (cronsim alone treats a
six-field expression as plain clock time), Quartz's ``?`` for "any weekday", and error
messages that name the field and say how to write it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone, tzinfo

from cronsim import CronSim, CronSimError

MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
# per field of a six-field expression: its name, "is not ...", accepted values, and the
# lowest and highest value (numbers, or names when the field has names)
_FIELDS = (
    ("second", "a second", "0-59", ("0", "59"), None),
    ("minute", "a minute", "0-59", ("0", "59"), None),
    ("hour", "an hour", "0-23", ("0", "23"), None),
    ("day of the month", "a day of the month", "1-31 or L (the last day)", ("1", "31"), None),
    ("month", "a month", "1-12 or jan-dec", ("1", "12"), ("jan", "dec")),
    ("weekday", "a day of the week", "0-7 (0 and 7 are Sunday) or sun-sat", ("0", "6"),
     ("sun", "sat")),
)  # fmt: skip
_RANGE = re.compile(r"^(?P<first>[^-/]+)-(?P<last>[^-/]+)(?:/\d+)?$")
_REFERENCE = datetime(2000, 1, 1)  # any date: validation and the seconds probe need one
_MINUTE = timedelta(minutes=1)
_SECOND = timedelta(seconds=1)
_HOUR = timedelta(hours=1)


class Crontab:
    """When cron would run ``expression`` in ``zone``.

    Fire times are aware datetimes in ``zone`` at the offset they really have (a run moved
    past a jump forward shows as ``03:00+02:00``).
    """

    def __init__(self, expression: str, zone: tzinfo) -> None:
        """Raises: ValueError: not a crontab expression (see ``parse_schedule``)."""
        self.expression = " ".join(expression.split())
        self.zone = zone
        self._minutes, self._seconds = _compile(self.expression, expression)
        minute, hour = self._minutes.split(" ")[:2]
        # cron(8): only a job at a fixed time gets the daylight-saving rules; one with "*"
        # in the minute or hour runs by the clock as it reads (cronsim's test, too)
        self._fixed_time = not minute.startswith("*") and not hour.startswith("*")

    def next_at_or_after(self, moment: datetime) -> datetime | None:
        return self.next_after(moment.astimezone(UTC) - timedelta(microseconds=1))

    def next_after(self, moment: datetime) -> datetime | None:
        """The first fire time strictly after ``moment`` (aware), or None if none in the
        next 50 years (cronsim's horizon)."""
        instant = moment.astimezone(UTC)
        minute = instant.replace(second=0, microsecond=0)
        for fire in self._minute_fires(minute):
            for second in self._seconds:
                candidate = fire + timedelta(seconds=second)
                if candidate > instant:
                    return candidate.astimezone(self.zone)
        return None

    def _minute_fires(self, minute: datetime) -> Iterator[datetime]:
        """The five-field expression's fire times at or after ``minute`` (UTC), in UTC."""
        if self._fixed_time:
            yield from self._fixed_time_fires(minute)
            return
        fire: datetime | None = minute - _SECOND
        while (fire := self._clock_fire_after(fire)) is not None:
            yield fire

    def _fixed_time_fires(self, minute: datetime) -> Iterator[datetime]:
        """cronsim reads a fixed-time job on the naive wall clock (Debian cron's rules), so
        started inside a repeated hour it can answer the first occurrence of a wall time
        already past: that run happened, and is skipped here (a repeated time runs once)."""
        start = (minute - _SECOND).astimezone(self.zone)
        for fire in CronSim(self._minutes, start):
            moment = fire.astimezone(UTC)
            if moment >= minute:
                yield moment

    def _clock_fire_after(self, moment: datetime) -> datetime | None:
        """The first fire strictly after ``moment`` (UTC) of a job that follows the clock
        as it reads (``*`` in minute or hour): the first real instant whose reading matches.

        cronsim is asked in a fixed UTC offset, where it is exact, one offset at a time: its
        own zone-aware stepping jumps whole wall-clock minutes in real time and so misses a
        match just after a change that is not a whole hour (Australia/Lord_Howe's 30 min).
        """
        after, since, offset = moment, moment, _offset(self.zone, moment)
        while True:  # ``offset`` holds from ``since``; fires strictly after ``after``
            try:
                fire = next(CronSim(self._minutes, after.astimezone(timezone(offset))))
            except StopIteration:
                return None
            fire = fire.astimezone(UTC)
            change = _first_change(self.zone, since, fire, offset)
            if change is None:
                return fire
            # on from the change, in the offset it brings: fires at or after it
            after, since, offset = change - _SECOND, change, _offset(self.zone, change)

    def __str__(self) -> str:
        return f"cron[{self.expression}]"

    def __repr__(self) -> str:
        return f"<Crontab {self.expression!r} in {self.zone}>"


def _offset(zone: tzinfo, moment: datetime) -> timedelta:
    """The UTC offset ``zone`` has at the instant ``moment``."""
    offset = moment.astimezone(zone).utcoffset()
    assert offset is not None  # an aware datetime's zone always gives one
    return offset


def _first_change(
    zone: tzinfo, start: datetime, end: datetime, offset: timedelta
) -> datetime | None:
    """The first instant in (``start``, ``end``] where ``zone``'s offset is no longer
    ``offset`` (its offset at ``start``), or None.

    zoneinfo lists no transitions publicly: the offset is read every hour, then the hour
    that changed is bisected to the second (changes fall on whole seconds). Changes are
    weeks apart, so an hourly reading cannot step over two that cancel out.
    """
    probe = start
    while probe < end:
        following = min(probe + _HOUR, end)
        if _offset(zone, following) != offset:
            low, high = int(probe.timestamp()), math.ceil(following.timestamp())
            while high - low > 1:  # invariant: the offset is still ``offset`` at low
                middle = (low + high) // 2
                if _offset(zone, datetime.fromtimestamp(middle, UTC)) == offset:
                    low = middle
                else:
                    high = middle
            return datetime.fromtimestamp(high, UTC)
        probe = following
    return None


def parse_schedule(expression: str, zone: tzinfo) -> Crontab:
    """A trigger firing when cron would run ``expression`` in ``zone``.

    Accepts five fields (minute hour day-of-month month day-of-week), an optional leading
    sixth of seconds, and the shortcuts of ``MACROS``.

    Raises:
        ValueError: the expression is not a crontab expression, or never fires; the
            message quotes it, names the wrong field and says how to write it.
    """
    return Crontab(expression, zone)


def _compile(text: str, written: str) -> tuple[str, tuple[int, ...]]:
    """``text`` (whitespace normalised) as cronsim's five fields and the seconds to fire at
    in each of their minutes (``(0,)`` for a five-field expression).

    Raises:
        ValueError: see ``parse_schedule``; the message quotes ``written``.
    """
    if text.startswith("@"):
        if text.lower() not in MACROS:
            raise ValueError(
                f"{written!r} is not a known shortcut: use one of {', '.join(MACROS)}, "
                "or write 5 fields"
            )
        text = MACROS[text.lower()]
    fields = text.split(" ") if text else []
    if len(fields) not in (5, 6):
        raise ValueError(
            f"{written!r} is not a crontab expression: write 5 fields "
            "'minute hour day-of-month month day-of-week' (e.g. '0 7 * * mon-fri'), "
            "optionally preceded by seconds"
        )
    if len(fields) == 5:
        fields.insert(0, "0")
    if fields[5] == "?":  # Quartz's "no particular weekday"
        fields[5] = "*"
    try:
        CronSim(" ".join(fields), _REFERENCE)
    except CronSimError:
        raise ValueError(_explain(written, fields)) from None
    return " ".join(fields[1:]), _seconds(fields[0])


def _seconds(field: str) -> tuple[int, ...]:
    """The seconds a seconds field selects, in order (cronsim reads the field)."""
    seconds: list[int] = []
    for fire in CronSim(f"{field} * * * * *", _REFERENCE - _SECOND):
        if fire - _REFERENCE >= _MINUTE:
            break
        seconds.append(fire.second)
    return tuple(seconds)


def _valid(index: int, part: str) -> bool:
    """Whether ``part`` alone is a valid value of field ``index`` (six-field numbering)."""
    probe = ["0", "0", "0", "*", "*", "*"]
    probe[index] = part
    try:
        CronSim(" ".join(probe), _REFERENCE)
    except CronSimError:
        return False
    return True


def _explain(written: str, fields: list[str]) -> str:
    """What is wrong with an expression cronsim refused, and how to write it."""
    for index, field in enumerate(fields):
        for part in field.split(","):
            if not _valid(index, part):
                return f"{written!r}: {_part_problem(index, part)}"
    return (
        f"{written!r} never fires: no month in {fields[4]!r} has day {fields[3]!r} "
        "(L is the last day of any month)"
    )


def _part_problem(index: int, part: str) -> str:
    noun, article, values, numbers, names = _FIELDS[index]
    if part.isdigit():
        return f"{noun} {part} is out of range: use {values}"
    ends = _RANGE.match(part)
    if ends and _valid(index, ends["first"]) and _valid(index, ends["last"]):
        low, high = numbers if ends["first"].isdigit() or names is None else names
        return (
            f"the {noun} range {part!r} runs backwards: split it in two, e.g. "
            f"'{ends['first']}-{high},{low}-{ends['last']}'"
        )
    return f"{part!r} is not {article}: use {values}, a range (1-5), a list (1,15) or a step (*/2)"


def next_runs(trigger: Crontab, now: datetime, count: int) -> list[datetime]:
    """The next ``count`` fire times at or after ``now`` (fewer if the schedule ends)."""
    runs: list[datetime] = []
    fire = trigger.next_at_or_after(now)
    while fire is not None and len(runs) < count:
        runs.append(fire)
        fire = trigger.next_after(fire)
    return runs


def previous_run(trigger: Crontab, now: datetime, lookback: timedelta) -> datetime | None:
    """The last fire time at or before ``now``, looking back at most ``lookback``.

    A binary search over "the first fire at or after t", which only grows with t: about
    20 evaluations whatever the schedule (even one firing every second). It runs on UTC
    instants: the wall clock is not monotonic across a fall back.
    """
    high = now.astimezone(UTC)
    low = high - lookback
    first = trigger.next_at_or_after(low)
    if first is None or first > high:
        return None
    at_now = trigger.next_at_or_after(high)
    if at_now is not None and at_now <= high:
        return at_now
    while high - low > timedelta(seconds=0.5):  # invariant: next(low) <= now < next(high)
        middle = low + (high - low) / 2
        fire = trigger.next_at_or_after(middle)
        if fire is not None and fire <= now:
            low = middle
        else:
            high = middle
    return trigger.next_at_or_after(low)


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

"""Schedules with cron's meaning: the weekday trap, either-day matching, daylight-saving
days, late-run decisions at fixed dates, and the `newsletter schedule` command."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from conftest import Project

from newsletter.daemon.scheduler import missed_run
from newsletter.settings.cron import next_runs, parse_duration, parse_schedule, previous_run

PARIS = ZoneInfo("Europe/Paris")


def runs(expression: str, start: datetime, count: int = 4, zone=PARIS) -> list[str]:
    return [t.isoformat() for t in next_runs(parse_schedule(expression, zone), start, count)]


@pytest.mark.parametrize("sunday", ["0", "7", "sun", "SUN"])
def test_weekday_0_and_7_are_sunday_as_in_cron(sunday: str) -> None:
    # 2026-11-27 is a Friday; APScheduler alone would fire `0 7 * * 0` on Mondays
    fired = next_runs(parse_schedule(f"0 7 * * {sunday}", PARIS), datetime(2026, 11, 27), 3)
    assert [t.date() for t in fired] == [date(2026, 11, 29), date(2026, 12, 6), date(2026, 12, 13)]
    assert all(t.strftime("%a %H:%M") == "Sun 07:00" for t in fired)


@pytest.mark.parametrize(
    ("field", "days"),
    [
        ("1-5", "Mon Tue Wed Thu Fri"),
        ("mon-fri", "Mon Tue Wed Thu Fri"),
        ("6,0", "Sat Sun"),
        ("5-7", "Fri Sat Sun"),
        ("*/2", "Sun Tue Thu Sat"),
        ("1-5/2", "Mon Wed Fri"),
    ],
)
def test_numeric_weekdays_ranges_and_steps_keep_their_cron_meaning(field: str, days: str) -> None:
    week = next_runs(parse_schedule(f"0 7 * * {field}", PARIS), datetime(2026, 11, 29), 7)
    fired = {t.strftime("%a") for t in week if t < datetime(2026, 12, 6, tzinfo=PARIS)}
    order = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
    assert sorted(fired, key=order.index) == sorted(days.split(), key=order.index)


def test_day_of_month_and_weekday_together_mean_either_as_in_cron() -> None:
    # the 1st of the month OR any Monday (APScheduler alone: only a 1st that is a Monday)
    fired = runs("0 7 1 * mon", datetime(2026, 11, 27, tzinfo=PARIS), 4)
    assert fired == [
        "2026-11-30T07:00:00+01:00",  # Monday
        "2026-12-01T07:00:00+01:00",  # the 1st, a Tuesday
        "2026-12-07T07:00:00+01:00",
        "2026-12-14T07:00:00+01:00",
    ]


@pytest.mark.parametrize(
    ("expression", "says"),
    [
        ("0 7 * * 8", "weekday 8 is out of range: use 0-7 (0 and 7 are Sunday)"),
        ("0 7 * * 5-1", "the weekday range '5-1' runs backwards"),
        ("0 7 * *", "write 5 fields 'minute hour day-of-month month day-of-week'"),
        ("0 25 * * *", "the last value (25) is higher than the maximum value (23)"),
        ("0 7 * * funday", "'funday' is not a day of the week"),
    ],
)
def test_bad_expressions_are_refused_with_the_reason(expression: str, says: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_schedule(expression, PARIS)
    assert says in str(caught.value)
    assert expression in str(caught.value)


def test_spring_forward_a_time_that_does_not_exist_runs_once_an_hour_later() -> None:
    # Europe/Paris 2026-03-29: 02:00 CET jumps to 03:00 CEST; 02:30 does not exist that night
    assert runs("30 2 * * *", datetime(2026, 3, 28, 12, tzinfo=PARIS), 3) == [
        "2026-03-29T03:30:00+02:00",
        "2026-03-30T02:30:00+02:00",
        "2026-03-31T02:30:00+02:00",
    ]
    # a 07:00 schedule is 07:00 local on both sides of the change: 06:00 then 05:00 UTC
    fired = next_runs(parse_schedule("0 7 * * *", PARIS), datetime(2026, 3, 28, tzinfo=PARIS), 2)
    assert [t.astimezone(UTC).hour for t in fired] == [6, 5]


def test_fall_back_a_time_that_occurs_twice_runs_once() -> None:
    # Europe/Paris 2026-10-25: 03:00 CEST goes back to 02:00 CET; 02:30 happens twice
    assert runs("30 2 * * *", datetime(2026, 10, 24, 12, tzinfo=PARIS), 3) == [
        "2026-10-25T02:30:00+02:00",
        "2026-10-26T02:30:00+01:00",
        "2026-10-27T02:30:00+01:00",
    ]
    hourly = runs("0 * * * *", datetime(2026, 10, 25, 0, 30, tzinfo=PARIS), 4)
    assert hourly == [
        "2026-10-25T01:00:00+02:00",
        "2026-10-25T02:00:00+02:00",
        "2026-10-25T03:00:00+01:00",  # 02:00 CET, the wall-clock repeat, is not run again
        "2026-10-25T04:00:00+01:00",
    ]


def test_the_last_run_before_a_start_on_dst_days() -> None:
    trigger = parse_schedule("30 2 * * *", PARIS)
    spring = previous_run(trigger, datetime(2026, 3, 29, 9, tzinfo=PARIS), timedelta(days=8))
    assert spring is not None and spring.isoformat() == "2026-03-29T03:30:00+02:00"
    # started between the two 02:30s of the fall-back night: the first was the run
    between = datetime(2026, 10, 25, 2, 45, fold=1, tzinfo=PARIS)
    autumn = previous_run(trigger, between, timedelta(days=8))
    assert autumn is not None and autumn.isoformat() == "2026-10-25T02:30:00+02:00"
    assert (
        previous_run(trigger, datetime(2026, 3, 29, 3, tzinfo=PARIS), timedelta(hours=20)) is None
    )


def test_late_start_decision_at_fixed_dates() -> None:
    trigger = parse_schedule("0 7 * * mon-fri", PARIS)
    grace = timedelta(hours=3)
    never: set[date] = set()

    inside = missed_run(
        trigger, datetime(2026, 11, 27, 9, 59, tzinfo=PARIS), grace, never.__contains__
    )
    assert inside is not None
    assert (inside.day, inside.within_grace, inside.done) == (date(2026, 11, 27), True, False)
    outside = missed_run(
        trigger, datetime(2026, 11, 27, 10, 1, tzinfo=PARIS), grace, never.__contains__
    )
    assert outside is not None and not outside.within_grace
    done = missed_run(
        trigger, datetime(2026, 11, 27, 8, tzinfo=PARIS), grace, {date(2026, 11, 27)}.__contains__
    )
    assert done is not None and done.done
    # Saturday morning: the last run was Friday's (no run on weekends), a day late
    weekend = missed_run(
        trigger, datetime(2026, 11, 28, 8, tzinfo=PARIS), grace, never.__contains__
    )
    assert weekend is not None
    assert (weekend.day, weekend.late) == (date(2026, 11, 27), timedelta(hours=25))
    assert not weekend.within_grace


@pytest.mark.parametrize(
    ("value", "expected"),
    [("3h", 180), ("90m", 90), ("1h30m", 90), ("45", 45), (45, 45), (2.5, 2.5), ("30s", 0.5)],
)
def test_late_grace_durations(value: object, expected: float) -> None:
    assert parse_duration(value) == timedelta(minutes=expected)


def test_schedule_command_prints_the_next_runs_in_the_time_zone(project: Project) -> None:
    project.write("newsletter.toml", 'schedule = "0 7 * * 0"\ntimezone = "Europe/Paris"\n')
    run = project.run("schedule", "--count", "3")
    assert run.code == 0, run.err
    lines = run.out.splitlines()
    assert len(lines) == 3
    moments = [datetime.fromisoformat(line) for line in lines]
    assert all(m.strftime("%a %H:%M:%S") == "Sun 07:00:00" for m in moments)
    assert all(m.utcoffset() in (timedelta(hours=1), timedelta(hours=2)) for m in moments)
    assert moments[0] > datetime.now(UTC)
    week, hour = timedelta(days=7), timedelta(hours=1)
    assert all(week - hour <= b - a <= week + hour for a, b in itertools.pairwise(moments))


def test_schedule_command_shows_the_collect_schedule_when_asked(project: Project) -> None:
    project.write("newsletter.toml", 'collect_schedule = "*/20 * * * *"\n')
    run = project.run("schedule", "--collect", "--count", "2")
    assert run.code == 0, run.err
    first, second = (datetime.fromisoformat(line) for line in run.out.splitlines())
    assert first.minute % 20 == 0 and second - first == timedelta(minutes=20)


def test_bad_schedule_settings_are_config_errors_naming_the_setting(project: Project) -> None:
    project.write("newsletter.toml", 'schedule = "0 7 * * 9"\nlate_grace = "soon"\n')
    run = project.run("schedule")
    assert run.code == 2
    assert "schedule: '0 7 * * 9': weekday 9 is out of range" in run.err
    assert "late_grace: 'soon' is not a duration" in run.err
    assert "Traceback" not in run.err


def test_collect_without_a_collect_schedule_is_explained(project: Project) -> None:
    run = project.run("schedule", "--collect")
    assert run.code == 2
    assert "no collect_schedule is set" in run.err

"""Schedules with cron's meaning: the weekday trap, either-day matching, daylight-saving
days, late-run decisions at fixed dates, and the `newsletter schedule` command."""

from __future__ import annotations

import asyncio
import itertools
import logging
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from conftest import ACTIVE, Project

from newsletter.daemon.scheduler import Daemon, missed_run
from newsletter.settings import load_settings
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
        ("0 25 * * *", "hour 25 is out of range: use 0-23"),
        ("0 7 * * funday", "'funday' is not a day of the week"),
        ("0 22-2 * * *", "the hour range '22-2' runs backwards: split it in two, e.g. '22-23,0-2'"),
        ("*/0 * * * *", "'*/0' is not a minute"),
        ("0 7 * jan-foo *", "'jan-foo' is not a month: use 1-12 or jan-dec"),
        ("0 0 30 2 *", "never fires: no month in '2' has day '30'"),
        ("@dayly", "is not a known shortcut: use one of @yearly"),
        ("61 * * * * *", "second 61 is out of range: use 0-59"),
    ],
)
def test_bad_expressions_are_refused_with_the_reason(expression: str, says: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_schedule(expression, PARIS)
    assert says in str(caught.value)
    assert expression in str(caught.value)


def test_spring_forward_a_time_that_does_not_exist_runs_once_right_after_the_jump() -> None:
    # Europe/Paris 2026-03-29: 02:00 CET jumps to 03:00 CEST; 02:30 does not exist that night
    assert runs("30 2 * * *", datetime(2026, 3, 28, 12, tzinfo=PARIS), 3) == [
        "2026-03-29T03:00:00+02:00",
        "2026-03-30T02:30:00+02:00",
        "2026-03-31T02:30:00+02:00",
    ]
    # with seconds: the same rule, the seconds kept
    assert runs("15 30 2 * * *", datetime(2026, 3, 28, 12, tzinfo=PARIS), 2) == [
        "2026-03-29T03:00:15+02:00",
        "2026-03-30T02:30:15+02:00",
    ]
    # a 07:00 schedule is 07:00 local on both sides of the change: 06:00 then 05:00 UTC
    fired = next_runs(parse_schedule("0 7 * * *", PARIS), datetime(2026, 3, 28, tzinfo=PARIS), 2)
    assert [t.astimezone(UTC).hour for t in fired] == [6, 5]


def test_midnight_runs_every_day_across_the_change() -> None:
    # the example: APScheduler's cron trigger went from 29 March to 31 March
    assert runs("0 0 * * *", datetime(2026, 3, 27, 23, tzinfo=PARIS), 4) == [
        "2026-03-28T00:00:00+01:00",
        "2026-03-29T00:00:00+01:00",
        "2026-03-30T00:00:00+02:00",
        "2026-03-31T00:00:00+02:00",
    ]
    new_york = ZoneInfo("America/New_York")
    assert runs("30 0 * * *", datetime(2026, 3, 7, 23, tzinfo=new_york), 3, new_york) == [
        "2026-03-08T00:30:00-05:00",
        "2026-03-09T00:30:00-04:00",
        "2026-03-10T00:30:00-04:00",
    ]
    # Havana: midnight does not exist on 8 March 2026 (00:00 -> 01:00): it runs at 01:00
    havana = ZoneInfo("America/Havana")
    assert runs("0 0 * * *", datetime(2026, 3, 7, 12, tzinfo=havana), 3, havana) == [
        "2026-03-08T01:00:00-04:00",
        "2026-03-09T00:00:00-04:00",
        "2026-03-10T00:00:00-04:00",
    ]


def test_fall_back_a_time_that_occurs_twice_runs_once() -> None:
    # Europe/Paris 2026-10-25: 03:00 CEST goes back to 02:00 CET; 02:30 happens twice
    assert runs("30 2 * * *", datetime(2026, 10, 24, 12, tzinfo=PARIS), 3) == [
        "2026-10-25T02:30:00+02:00",
        "2026-10-26T02:30:00+01:00",
        "2026-10-27T02:30:00+01:00",
    ]
    # a job with '*' in the hour follows the clock (cron(8)): every real hour, the
    # repeated 02:00 included; on the spring night there is no 02:00 to run at
    hourly = runs("0 * * * *", datetime(2026, 10, 25, 0, 30, tzinfo=PARIS), 5)
    assert hourly == [
        "2026-10-25T01:00:00+02:00",
        "2026-10-25T02:00:00+02:00",
        "2026-10-25T02:00:00+01:00",
        "2026-10-25T03:00:00+01:00",
        "2026-10-25T04:00:00+01:00",
    ]
    assert runs("0 * * * *", datetime(2026, 3, 29, 0, 30, tzinfo=PARIS), 3) == [
        "2026-03-29T01:00:00+01:00",
        "2026-03-29T03:00:00+02:00",
        "2026-03-29T04:00:00+02:00",
    ]


def test_the_last_run_before_a_start_on_dst_days() -> None:
    trigger = parse_schedule("30 2 * * *", PARIS)
    spring = previous_run(trigger, datetime(2026, 3, 29, 9, tzinfo=PARIS), timedelta(days=8))
    assert spring is not None and spring.isoformat() == "2026-03-29T03:00:00+02:00"
    # started between the two 02:30s of the fall-back night: the first was the run
    between = datetime(2026, 10, 25, 2, 45, fold=1, tzinfo=PARIS)
    autumn = previous_run(trigger, between, timedelta(days=8))
    assert autumn is not None and autumn.isoformat() == "2026-10-25T02:30:00+02:00"
    just_before = datetime(2026, 3, 29, 1, 59, 59, tzinfo=PARIS)
    assert previous_run(trigger, just_before, timedelta(hours=20)) is None


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


def late(expression: str, now: datetime, zone: ZoneInfo = PARIS) -> tuple[str, str, str, bool]:
    """What a daemon starting at ``now`` finds: the day owed, when it was due, how late."""
    found = missed_run(
        parse_schedule(expression, zone), now, timedelta(hours=3), set().__contains__
    )
    assert found is not None
    return str(found.day), found.scheduled.isoformat(), str(found.late), found.within_grace


def test_a_start_after_a_daylight_saving_change_makes_up_the_right_day() -> None:
    # the morning after Paris's spring-forward night: today's midnight run is owed (the
    # old trigger saw none since 29 March and called that day's run a day late)
    assert late("0 0 * * *", datetime(2026, 3, 30, 1, tzinfo=PARIS)) == (
        "2026-03-30", "2026-03-30T00:00:00+02:00", "1:00:00", True,
    )  # fmt: skip
    # 02:30 did not exist on 29 March: its run was at 03:00, right after the jump
    assert late("30 2 * * *", datetime(2026, 3, 29, 3, 20, tzinfo=PARIS)) == (
        "2026-03-29", "2026-03-29T03:00:00+02:00", "0:20:00", True,
    )  # fmt: skip
    # started during the repeated hour of 25 October, after the second 02:30 began:
    # the run was the first 02:30, 1 h 15 min earlier
    repeated = datetime(2026, 10, 25, 2, 45, fold=1, tzinfo=PARIS)
    assert late("30 2 * * *", repeated) == (
        "2026-10-25", "2026-10-25T02:30:00+02:00", "1:15:00", True,
    )  # fmt: skip
    # Havana skips midnight on 8 March 2026: the day's run was at 01:00
    havana = ZoneInfo("America/Havana")
    assert late("0 0 * * *", datetime(2026, 3, 8, 1, 10, tzinfo=havana), havana) == (
        "2026-03-08", "2026-03-08T01:00:00-04:00", "0:10:00", True,
    )  # fmt: skip
    # Santiago goes back from Sunday 00:00 to Saturday 23:00 on 5 April 2026: during the
    # repeated hour Saturday's run is the last one, and Sunday's midnight is still ahead
    santiago = ZoneInfo("America/Santiago")
    saturday = datetime(2026, 4, 4, 23, 30, fold=1, tzinfo=santiago)
    assert late("0 0 * * *", saturday, santiago) == (
        "2026-04-04", "2026-04-04T00:00:00-03:00", "1 day, 0:30:00", False,
    )  # fmt: skip
    assert runs("0 0 * * *", saturday, 1, santiago) == ["2026-04-05T00:00:00-04:00"]


def test_the_daemon_catches_up_after_a_change_with_a_fixed_clock(
    project: Project, caplog: pytest.LogCaptureFixture
) -> None:
    # the daemon's own start-up path (the database, the send, the log), at a fixed time:
    # started at 01:00 the morning after the spring-forward night, 1 h after the run
    config = project.write(
        "newsletter.toml",
        'timezone = "Europe/Paris"\nschedule = "0 0 * * *"\nlate_grace = "3h"\n',
    )
    settings, _ = load_settings(config)
    clock = lambda: datetime(2026, 3, 30, 1, tzinfo=PARIS).astimezone(UTC)  # noqa: E731
    caplog.set_level(logging.INFO, logger="newsletter")

    async def start() -> None:
        daemon = Daemon(settings, clock)
        daemon.catch_up()
        await asyncio.gather(*daemon.tasks)

    asyncio.run(start())
    assert (
        "edition 2026-03-30: the run scheduled at 2026-03-30T00:00:00+02:00 was missed by "
        "1 h 00 min: running it now" in caplog.text
    )
    assert len(list((project.path / "outbox" / "new").iterdir())) == len(ACTIVE)
    caplog.clear()
    asyncio.run(start())  # started again: the database says the day is done
    assert "edition 2026-03-30: already sent by a scheduled run" in caplog.text
    assert len(list((project.path / "outbox" / "new").iterdir())) == len(ACTIVE)


def test_schedule_from_shows_the_runs_across_the_change(project: Project) -> None:
    project.write("newsletter.toml", 'timezone = "Europe/Paris"\nschedule = "0 0 * * *"\n')
    run = project.run("schedule", "--count", "4", "--from", "2026-03-27T23:00")
    assert (run.code, run.err) == (0, "")
    assert run.out.splitlines() == [
        "2026-03-28T00:00:00+01:00",
        "2026-03-29T00:00:00+01:00",
        "2026-03-30T00:00:00+02:00",  # the day APScheduler's cron trigger skipped
        "2026-03-31T00:00:00+02:00",
    ]
    # an offset is honoured: 23:00 UTC is already midnight in Paris; at or after it
    offset = project.run("schedule", "--count", "1", "--from", "2026-03-28T23:00+00:00")
    assert offset.out.splitlines() == ["2026-03-29T00:00:00+01:00"]
    # a naive time is read in the 'timezone' setting
    naive = project.run("schedule", "--count", "1", "--from", "2026-03-29 00:00")
    assert naive.out.splitlines() == ["2026-03-29T00:00:00+01:00"]


def test_schedule_from_works_with_collect(project: Project) -> None:
    project.write(
        "newsletter.toml",
        'timezone = "Europe/Paris"\ncollect_schedule = "0 * * * *"\n',
    )
    run = project.run("schedule", "--collect", "--count", "3", "--from", "2026-10-25T01:30")
    assert run.code == 0, run.err
    assert run.out.splitlines() == [
        "2026-10-25T02:00:00+02:00",
        "2026-10-25T02:00:00+01:00",  # hourly follows the clock: the repeated hour runs
        "2026-10-25T03:00:00+01:00",
    ]


@pytest.mark.parametrize("value", ["tomorrow", "2026-13-01T00:00", "27/03/2026 23:00", ""])
def test_schedule_from_a_bad_value_is_a_usage_error_with_the_form(
    project: Project, value: str
) -> None:
    run = project.run("schedule", "--from", value)
    assert run.code == 2
    assert f"argument --from: {value!r} is not a date and time: use YYYY-MM-DDTHH:MM" in run.err
    assert "Traceback" not in run.err and run.out == ""


def test_the_daemon_announces_and_schedules_every_day_across_the_change(
    project: Project, caplog: pytest.LogCaptureFixture
) -> None:
    config = project.write("newsletter.toml", 'timezone = "Europe/Paris"\nschedule = "0 0 * * *"\n')
    settings, _ = load_settings(config)
    saturday_night = datetime(2026, 3, 28, 23, 30, tzinfo=PARIS).astimezone(UTC)
    caplog.set_level(logging.INFO, logger="newsletter")
    daemon = Daemon(settings, lambda: saturday_night)
    daemon.announce()
    assert (
        "next runs 2026-03-29T00:00:00+01:00, 2026-03-30T00:00:00+02:00, "
        "2026-03-31T00:00:00+02:00" in caplog.text
    )
    # what APScheduler asks after each run: the fire after the one just run
    fired = datetime(2026, 3, 29, 0, tzinfo=PARIS)
    following = daemon.trigger.get_next_fire_time(fired, fired + timedelta(seconds=1))
    assert following is not None and following.isoformat() == "2026-03-30T00:00:00+02:00"

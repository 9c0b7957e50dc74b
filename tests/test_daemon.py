"""`newsletter serve` as a real process against a real aiosmtpd server: scheduled runs, late
starts, restarts, SIGTERM mid-send, the lock, and /healthz over HTTP."""

from __future__ import annotations

import fcntl
import json
import os
import signal
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from conftest import ACTIVE, FAST_RETRIES, Project
from daemonproc import Served
from smtpserver import free_port

Serve = Callable[..., Served]


@pytest.fixture
def serve(project: Project) -> Iterator[Serve]:
    """Start ``newsletter serve`` in the project (killed at the end if still running)."""
    started: list[Served] = []

    def start(env: dict[str, str], *options: str) -> Served:
        served = Served(project.path, {**FAST_RETRIES, **env}, *options)
        started.append(served)
        return served

    yield start
    for served in started:
        served.kill()


def daily_at(moment: datetime) -> str:
    """A daily schedule firing at ``moment``'s time of day, to the second (UTC)."""
    return f"{moment.second} {moment.minute} {moment.hour} * * *"


def test_a_run_at_the_scheduled_time_then_never_again_that_day(project, smtp, serve) -> None:
    recorder, url = smtp
    fire = (datetime.now(UTC) + timedelta(seconds=4)).replace(microsecond=0)
    env = {"NEWSLETTER_SMTP_URL": url, "NEWSLETTER_SCHEDULE": daily_at(fire)}
    daemon = serve(env)

    # at start: the next runs are announced; yesterday's run was missed by a day: skipped
    announced = daemon.wait_for("next runs")
    assert fire.isoformat() in announced
    assert (fire + timedelta(days=1)).isoformat() in announced
    skipped = daemon.wait_for("skipped")
    assert str((fire - timedelta(days=1)).date()) in skipped
    code, body = daemon.health()
    assert (code, body["last_run"], body["next_run"]) == (200, None, fire.isoformat())
    assert recorder.received == []  # nothing before its time

    body = daemon.wait_health(lambda b: b["last_run"] is not None, timeout=20)
    arrived = datetime.now(UTC)
    assert fire <= datetime.fromisoformat(body["last_run"]["started"]) < arrived
    assert arrived < fire + timedelta(seconds=10)
    assert body["last_run"]["outcome"] == "sent"
    assert body["last_run"]["summary"]["sent"] == len(ACTIVE)
    assert body["next_run"] == (fire + timedelta(days=1)).isoformat()
    assert recorder.counts() == dict.fromkeys(ACTIVE, 1)
    assert daemon.stop() == 0

    # a restart the same day, inside the grace window: the database says the day is done
    again = serve(env)
    again.wait_for(f"edition {fire.date()}: already sent by a scheduled run")
    # /healthz reports the run the database recorded, not an empty memory
    assert again.health()[1]["last_run"] == body["last_run"]
    assert again.stop() == 0
    assert recorder.counts() == dict.fromkeys(ACTIVE, 1)


def test_a_late_start_inside_the_grace_window_sends_the_day(project, smtp, serve) -> None:
    recorder, url = smtp
    fire = (datetime.now(UTC) - timedelta(minutes=10)).replace(microsecond=0)
    env = {
        "NEWSLETTER_SMTP_URL": url,
        "NEWSLETTER_SCHEDULE": daily_at(fire),
        "NEWSLETTER_LATE_GRACE": "1h",
    }
    daemon = serve(env, "--log-format", "json")

    body = daemon.wait_health(lambda b: b["last_run"] is not None)
    assert body["last_run"]["day"] == str(fire.date())
    assert recorder.counts() == dict.fromkeys(ACTIVE, 1)
    # JSON logs: one object per line; one run line carrying the summary's fields
    records = [json.loads(line) for line in daemon.lines]
    runs = [r for r in records if r.get("event") == "run"]
    assert len(runs) == 1
    assert (runs[0]["outcome"], runs[0]["sent"], runs[0]["edition"]) == (
        "sent", len(ACTIVE), str(fire.date()),
    )  # fmt: skip
    assert "missed by 10 min" in " ".join(r["message"] for r in records)
    assert daemon.stop() == 0


def test_a_late_start_outside_the_grace_window_skips_the_day(project, smtp, serve) -> None:
    recorder, url = smtp
    fire = (datetime.now(UTC) - timedelta(minutes=10)).replace(microsecond=0)
    env = {
        "NEWSLETTER_SMTP_URL": url,
        "NEWSLETTER_SCHEDULE": daily_at(fire),
        "NEWSLETTER_LATE_GRACE": "5",  # minutes
    }
    daemon = serve(env)

    line = daemon.wait_for("skipped")
    assert f"edition {fire.date()}: skipped" in line
    assert "late_grace (5 min)" in line
    assert f"newsletter send --date {fire.date()}" in line
    time.sleep(1)
    assert daemon.health()[1]["last_run"] is None
    assert recorder.received == []
    assert daemon.stop() == 0


def test_sigterm_mid_send_exits_0_and_a_restart_completes_without_duplicates(
    project, smtp, serve
) -> None:
    recorder, url = smtp
    recorder.delay = 0.03
    emails = [f"reader{i:04d}@example.com" for i in range(150)]
    project.write("subscribers/subscribers.csv", "email\n" + "\n".join(emails) + "\n")
    fire = (datetime.now(UTC) - timedelta(minutes=1)).replace(microsecond=0)
    env = {
        "NEWSLETTER_SMTP_URL": url,
        "NEWSLETTER_SCHEDULE": daily_at(fire),
        "NEWSLETTER_SMTP_CONNECTIONS": "2",
    }
    daemon = serve(env)
    deadline = time.monotonic() + 30
    while len(recorder.received) < 20 and time.monotonic() < deadline:
        time.sleep(0.02)

    started = time.monotonic()
    assert daemon.stop(signal.SIGTERM) == 0
    assert time.monotonic() - started < 10
    assert "stopped by a signal" in daemon.log
    first = len(recorder.received)
    assert 20 <= first < len(emails)

    again = serve(env)
    body = again.wait_health(lambda b: b["last_run"] is not None)
    assert body["last_run"]["outcome"] == "sent"
    assert body["last_run"]["summary"]["already_sent"] >= first - 2  # in doubt: resent
    assert again.stop() == 0
    counts = recorder.counts()
    assert set(counts) == set(emails)  # nobody missed
    assert sum(counts.values()) - len(emails) <= 2  # only messages in flight, if any


def test_a_run_while_another_holds_the_lock_is_logged_not_fatal(project, smtp, serve) -> None:
    recorder, url = smtp
    fire = (datetime.now(UTC) - timedelta(minutes=1)).replace(microsecond=0)
    fd = os.open(project.path / "newsletter.db.lock", os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # as a `newsletter send` from cron would
    try:
        daemon = serve({"NEWSLETTER_SMTP_URL": url, "NEWSLETTER_SCHEDULE": daily_at(fire)})
        line = daemon.wait_for("not run")
        assert "holds" in line
        code, body = daemon.health()
        assert (code, body["last_run"]["outcome"]) == (200, "locked")
        assert daemon.proc.poll() is None  # still serving
        assert recorder.received == []
    finally:
        os.close(fd)
    assert daemon.stop() == 0


def test_healthz_reports_a_failing_run_with_503_and_the_error(project, serve) -> None:
    dead = f"smtp://127.0.0.1:{free_port()}"  # nothing listens there
    fire = (datetime.now(UTC) - timedelta(minutes=1)).replace(microsecond=0)
    daemon = serve({"NEWSLETTER_SMTP_URL": dead, "NEWSLETTER_SCHEDULE": daily_at(fire)})

    body = daemon.wait_health(lambda b: b["last_run"] is not None)
    code, body = daemon.health()
    assert code == 503
    assert body["status"] == "failing"
    assert dead.removeprefix("smtp://") in body["last_error"]["message"]
    assert daemon.proc.poll() is None
    assert daemon.stop() == 0


def test_serve_on_an_address_in_use_is_a_clear_error(project, serve) -> None:
    first = serve({"NEWSLETTER_SCHEDULE": "0 7 * * *"})
    first.wait_for("listening")
    run = project.run("serve", "--listen", f"127.0.0.1:{first.port}")
    assert run.code == 2
    assert f"cannot listen on 127.0.0.1:{first.port}" in run.err
    assert "Traceback" not in run.err
    assert first.stop() == 0


def test_collect_schedule_collects_between_sends(project, serve) -> None:
    # sends only on 1 January (never in this test), collects every second
    env = {"NEWSLETTER_SCHEDULE": "0 7 1 1 *", "NEWSLETTER_COLLECT_SCHEDULE": "* * * * * *"}
    daemon = serve(env)

    line = daemon.wait_for("collection: ")
    stored = int(line.split("collection: ")[1].split()[0])
    assert stored == len(list((project.path / "seeds").iterdir())) > 0
    daemon.wait_for("collection: 0 new articles stored")  # the next one finds nothing new
    body = daemon.health()[1]
    assert body["next_collect"] is not None and body["last_run"] is None
    assert daemon.stop() == 0
    assert not (project.path / "outbox").exists()  # collecting sends nothing


def test_healthz_says_when_the_bounce_mailbox_is_read_next(project, serve) -> None:
    for sub in ("cur", "new", "tmp"):
        (project.path / "bouncebox" / sub).mkdir(parents=True)
    env = {
        "NEWSLETTER_SCHEDULE": "0 7 1 1 *",
        "NEWSLETTER_BOUNCE_MAILBOX": "bouncebox",
        "NEWSLETTER_BOUNCE_SCHEDULE": "0 3 1 1 *",
    }
    daemon = serve(env)
    daemon.wait_for("listening")
    body = daemon.health()[1]
    assert body["next_bounces"] is not None and body["next_bounces"][5:16] == "01-01T03:00"
    assert daemon.stop() == 0


def test_healthz_without_a_bounce_schedule_has_no_next_bounce_read(project, serve) -> None:
    daemon = serve({"NEWSLETTER_SCHEDULE": "0 7 1 1 *"})
    daemon.wait_for("listening")
    assert daemon.health()[1]["next_bounces"] is None
    assert daemon.stop() == 0
